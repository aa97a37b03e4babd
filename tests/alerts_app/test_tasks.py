from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from alerts_app import tasks
from alerts_app.models import Incident
from alerts_app.notifications import dispatch
from monitor_project.celery import app
from monitor_project.schedule import BEAT_SCHEDULE
from tests.alerts_app.factories import (
    AlertRuleFactory,
    IncidentFactory,
    MaintenanceWindowFactory,
)
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def eager() -> Iterator[None]:
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.mark.parametrize(
    ("task", "seconds"),
    [("alerts.evaluate_rules", 30.0), ("alerts.maintenance_tick", 60.0)],
)
def test_the_beat_runs_alerting_on_its_cadence(task: str, seconds: float) -> None:
    [entry] = [e for e in BEAT_SCHEDULE.values() if e["task"] == task]

    assert entry["schedule"] == seconds
    assert task in app.tasks


def test_the_evaluation_task_opens_and_notifies(
    eager: None, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = AlertRuleFactory(
        integration=integration,
        condition_metric="consecutive_failures",
        condition_operator=">",
        condition_threshold=Decimal(3),
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.evaluate_rules.apply().get()

    assert result["opened"] == 1
    incident = Incident.objects.get(alert_rule=rule)
    assert [e["status"] for e in incident.notifications_sent] == ["queued", "sent"]
    assert len(mailoutbox) == 1


def test_notices_never_queued_are_queued_by_the_next_pass(
    eager: None, mailoutbox: Any, now: datetime.datetime
) -> None:
    incident = IncidentFactory(triggered_at=now - 5 * MINUTE)
    IncidentFactory(triggered_at=now - 3 * 60 * MINUTE)  # too old to matter now

    with time_machine.travel(now, tick=False):
        assert tasks.requeue_unsent() == 1
        assert tasks.requeue_unsent() == 0

    incident.refresh_from_db()
    assert {e["status"] for e in incident.notifications_sent} == {"queued", "sent"}
    assert len(mailoutbox) == 1


def test_a_rule_with_no_reachable_recipient_is_not_swept_again(
    now: datetime.datetime,
) -> None:
    rule = AlertRuleFactory(notification_channels=["slack"], notification_recipients=[])
    incident = IncidentFactory(alert_rule=rule, triggered_at=now - 5 * MINUTE)

    assert dispatch.dispatch(incident.pk, "opened") == []

    assert dispatch.unsent(now) == []


def test_the_maintenance_task_queues_the_advance_notice(
    eager: None, mailoutbox: Any
) -> None:
    integration = IntegrationFactory()
    AlertRuleFactory(
        integration=integration, notification_recipients=["ops@example.com"]
    )
    MaintenanceWindowFactory(integrations=[integration])

    tasks.maintenance_tick.apply().get()
    tasks.maintenance_tick.apply().get()

    assert [m.to for m in mailoutbox] == [["ops@example.com"]]
