from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from alerts_app import engine, escalation, maintenance
from alerts_app.dependencies import check_no_cycle
from alerts_app.models import CriticalSince, Incident, MaintenanceWindow
from integrations_app.models import Dependency, Integration
from tests.alerts_app.factories import (
    AlertRuleFactory,
    IncidentFactory,
    MaintenanceWindowFactory,
)
from tests.integrations_app.factories import DependencyFactory, IntegrationFactory

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)


def _failing_rule(integration: Integration, **kw: Any) -> Any:
    return AlertRuleFactory(
        integration=integration,
        condition_metric="consecutive_failures",
        condition_operator=">=",
        condition_threshold=Decimal(3),
        **kw,
    )


def _window(
    now: datetime.datetime, integrations: list[Integration], **kw: Any
) -> MaintenanceWindow:
    fields = {
        "scheduled_start": now + 10 * MINUTE,
        "scheduled_end": now + 70 * MINUTE,
        "integrations": integrations,
    }
    fields.update(kw)
    return MaintenanceWindowFactory(**fields)


def test_an_approved_window_starts_and_ends_on_time(
    now: datetime.datetime, manager: Any
) -> None:
    window = _window(
        now, [], requires_approval=True, approved_by=manager, approved_at=now
    )

    maintenance.tick(now)
    window.refresh_from_db()
    assert window.status == "scheduled"

    maintenance.tick(now + 10 * MINUTE)
    window.refresh_from_db()
    assert (window.status, window.actual_start) == ("in_progress", now + 10 * MINUTE)

    maintenance.tick(now + 70 * MINUTE)
    window.refresh_from_db()
    assert (window.status, window.actual_end) == ("completed", now + 70 * MINUTE)


def test_a_window_awaiting_approval_does_not_start(now: datetime.datetime) -> None:
    window = _window(now, [], requires_approval=True)

    maintenance.tick(now + 20 * MINUTE)

    window.refresh_from_db()
    assert window.status == "scheduled"


def test_the_advance_notice_is_claimed_once(now: datetime.datetime) -> None:
    window = _window(
        now,
        [],
        scheduled_start=now + 23 * 60 * MINUTE,
        scheduled_end=now + 25 * 60 * MINUTE,
        notification_advance_hours=24,
    )
    early = _window(
        now,
        [],
        scheduled_start=now + 30 * 60 * MINUTE,
        scheduled_end=now + 31 * 60 * MINUTE,
        notification_advance_hours=24,
    )

    first = maintenance.tick(now)
    second = maintenance.tick(now + MINUTE)

    assert first.notices == [window.pk]
    assert second.notices == []
    early.refresh_from_db()
    assert early.notifications_sent is False


def test_the_advance_notice_reaches_the_watchers_by_email(
    now: datetime.datetime, mailoutbox: Any
) -> None:
    integration = IntegrationFactory(display_name="Stripe Payments")
    _failing_rule(integration, notification_recipients=["ops@example.com"])
    window = _window(now, [integration], title="Database upgrade")

    sent = maintenance.send_notice(window.pk)

    assert sent == 1
    [mail] = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert "Database upgrade" in mail.subject
    assert "Stripe Payments" in mail.body


def test_incidents_inside_a_window_open_suppressed_and_a_held_condition_reopens_after(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _failing_rule(integration, cooldown_minutes=30)
    window = _window(now, [integration])
    maintenance.tick(now + 10 * MINUTE)

    engine.evaluate(now=now + 11 * MINUTE)
    engine.evaluate(now=now + 12 * MINUTE)

    [muted] = Incident.objects.filter(alert_rule=rule)
    assert muted.status == "suppressed"
    assert muted.suppressed_by_window_id == window.pk
    assert muted.notifications_sent == []

    maintenance.tick(now + 70 * MINUTE)

    muted.refresh_from_db()
    assert muted.resolved_at == now + 70 * MINUTE
    [normal] = Incident.objects.filter(alert_rule=rule, status="open")
    assert normal.suppressed_by_window_id is None


def test_a_condition_that_cleared_during_maintenance_opens_nothing_after(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _failing_rule(integration)
    _window(now, [integration])
    maintenance.tick(now + 10 * MINUTE)
    engine.evaluate(now=now + 11 * MINUTE)

    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=0)
    engine.evaluate(now=now + 20 * MINUTE)
    maintenance.tick(now + 70 * MINUTE)

    assert [i.status for i in Incident.objects.filter(alert_rule=rule)] == [
        "suppressed"
    ]
    assert not Incident.objects.filter(alert_rule=rule, status="open").exists()


def test_a_critical_upstream_is_named_as_the_cause_and_listed_upstream(
    now: datetime.datetime,
) -> None:
    database = IntegrationFactory(display_name="Primary DB", consecutive_failures=5)
    api = IntegrationFactory(display_name="Orders API", consecutive_failures=4)
    DependencyFactory(integration=api, depends_on=database, propagation_delay_minutes=2)
    db_rule = _failing_rule(database)
    api_rule = _failing_rule(api)
    Integration.objects.filter(pk=database.pk).update(current_health_status="critical")
    CriticalSince.objects.create(integration=database, since=now - 5 * MINUTE)

    engine.evaluate(now=now)

    upstream = Incident.objects.get(alert_rule=db_rule)
    downstream = Incident.objects.get(alert_rule=api_rule)
    assert downstream.caused_by_id == database.pk
    assert downstream.affected_services == ["Primary DB"]
    assert "Probably caused by Primary DB" in downstream.alert_message
    assert upstream.affected_services == ["Orders API"]


def test_the_upstream_is_blamed_only_after_its_propagation_delay(
    now: datetime.datetime,
) -> None:
    database = IntegrationFactory(current_health_status="critical")
    api = IntegrationFactory(consecutive_failures=4)
    DependencyFactory(
        integration=api, depends_on=database, propagation_delay_minutes=10
    )
    rule = _failing_rule(api)
    CriticalSince.objects.create(integration=database, since=now - 5 * MINUTE)

    engine.evaluate(now=now)

    assert Incident.objects.get(alert_rule=rule).caused_by_id is None


def test_a_dependency_without_propagation_blames_nothing(
    now: datetime.datetime,
) -> None:
    database = IntegrationFactory(current_health_status="critical")
    api = IntegrationFactory(consecutive_failures=4)
    DependencyFactory(integration=api, depends_on=database, failure_propagates=False)
    rule = _failing_rule(api)

    engine.evaluate(now=now)

    assert Incident.objects.get(alert_rule=rule).caused_by_id is None


def test_a_status_change_keeps_since_when_an_integration_is_critical(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(current_health_status="critical")

    engine.on_status_changed(
        None,
        integration_id=str(integration.pk),
        health_status="critical",
        changed_at=now,
    )
    assert CriticalSince.objects.get(integration=integration).since == now

    Integration.objects.filter(pk=integration.pk).update(
        current_health_status="healthy"
    )
    engine.on_status_changed(
        None, integration_id=str(integration.pk), health_status="healthy"
    )
    assert not CriticalSince.objects.exists()


@pytest.mark.parametrize(
    ("edges", "new", "cycle"),
    [
        ([], ("a", "b"), False),
        ([("a", "b")], ("b", "a"), True),
        ([("a", "b"), ("b", "c")], ("c", "a"), True),
        ([("a", "b"), ("b", "c")], ("a", "c"), False),
        ([("a", "b"), ("c", "b")], ("b", "d"), False),
        ([], ("a", "a"), True),
    ],
)
def test_dependency_cycles_are_refused(
    edges: list[tuple[str, str]], new: tuple[str, str], cycle: bool
) -> None:
    nodes = {name: IntegrationFactory() for name in "abcd"}
    for left, right in edges:
        DependencyFactory(integration=nodes[left], depends_on=nodes[right])

    if cycle:
        with pytest.raises(ValidationError) as caught:
            check_no_cycle(nodes[new[0]].pk, nodes[new[1]].pk)
        assert "depends_on" in caught.value.message_dict
    else:
        check_no_cycle(nodes[new[0]].pk, nodes[new[1]].pk)


def test_saving_a_dependency_that_closes_a_loop_is_refused_on_any_path() -> None:
    a, b = IntegrationFactory(), IntegrationFactory()
    DependencyFactory(integration=a, depends_on=b)

    with pytest.raises(ValidationError):
        Dependency.objects.create(integration=b, depends_on=a, dependency_type="hard")


def test_editing_a_dependency_is_checked_without_its_old_self() -> None:
    a, b, c = IntegrationFactory(), IntegrationFactory(), IntegrationFactory()
    edge = DependencyFactory(integration=a, depends_on=b)

    edge.depends_on = c
    edge.save()

    assert Dependency.objects.get(pk=edge.pk).depends_on_id == c.pk


def _escalating(now: datetime.datetime, **kw: Any) -> Incident:
    rule = AlertRuleFactory(
        escalation_enabled=True,
        escalation_after_minutes=30,
        escalation_recipients=[
            "lead@example.com",
            "https://hooks.slack.com/services/T/B/secret",
        ],
    )
    return IncidentFactory(alert_rule=rule, triggered_at=now, **kw)


def test_an_unacknowledged_incident_escalates_again_after_the_same_time_up_to_the_limit(
    now: datetime.datetime,
) -> None:
    incident = _escalating(now)

    assert escalation.escalate_due(now + 29 * MINUTE) == 0
    assert escalation.escalate_due(now + 30 * MINUTE) == 1
    incident.refresh_from_db()
    assert incident.escalation_level == 1
    assert incident.escalated_at == now + 30 * MINUTE
    assert (
        incident.escalated_to is not None
        and "lead@example.com" in incident.escalated_to
    )
    assert not any("secret" in r for r in incident.escalated_to)

    assert escalation.escalate_due(now + 59 * MINUTE) == 0
    assert escalation.escalate_due(now + 60 * MINUTE) == 1
    escalation.escalate_due(now + 90 * MINUTE)
    escalation.escalate_due(now + 120 * MINUTE)
    escalation.escalate_due(now + 150 * MINUTE)

    incident.refresh_from_db()
    assert incident.escalation_level == 3


def test_an_acknowledged_incident_does_not_escalate(
    now: datetime.datetime, staff: Any
) -> None:
    _escalating(now, status="acknowledged", acknowledged_by=staff)

    assert escalation.escalate_due(now + 60 * MINUTE) == 0


def test_an_incident_in_maintenance_does_not_escalate(now: datetime.datetime) -> None:
    incident = _escalating(now)
    _window(now, [incident.integration], status="in_progress")

    assert escalation.escalate_due(now + 60 * MINUTE) == 0


def test_the_escalation_limit_comes_from_system_config(now: datetime.datetime) -> None:
    from integrations_app.models import SystemConfig

    SystemConfig.objects.create(config_key="max_escalation_level", config_value=1)
    incident = _escalating(now)

    for minutes in (30, 60, 90):
        escalation.escalate_due(now + minutes * MINUTE)

    incident.refresh_from_db()
    assert incident.escalation_level == 1
