from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import responses

from alerts_app import engine, escalation, incidents
from alerts_app.models import AlertRule, Incident
from integrations_app.models import AuditEvent
from monitor_project.celery import app
from tests.alerts_app.factories import AlertRuleFactory
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

CANARIES = {
    "twilio": "canary-twilio-token-7f3a9c",
    "global_webhook": "canary-global-webhook-2b8e4d",
    "rule_webhook": "canary-rule-webhook-5c1f0a",
    "slack_path": "canary-slack-path-9d7e61",
    "hook_query": "canary-hook-query-3e5b27",
}
SLACK = f"https://hooks.slack.com/services/T1/B1/{CANARIES['slack_path']}"
HOOK = f"https://hooks.example.com/in?token={CANARIES['hook_query']}"
TWILIO = "https://api.twilio.com/2010-04-01/Accounts/AC9/Messages.json"


@pytest.fixture
def eager() -> Iterator[None]:
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _rows(model: Any) -> str:
    return json.dumps(list(model.objects.values()), default=str)


@responses.activate
def test_no_secret_reaches_an_incident_an_audit_event_or_a_log(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
    eager: None,
    manager: Any,
    now: Any,
) -> None:
    settings.TWILIO_ACCOUNT_SID = "AC9"
    settings.TWILIO_AUTH_TOKEN = CANARIES["twilio"]
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.ALERT_WEBHOOK_SECRET = CANARIES["global_webhook"]
    settings.ALERT_NOTIFY_BACKOFF_SECONDS = 0
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port or 443))
        ],
    )
    caplog.set_level(logging.DEBUG)
    responses.post(SLACK, status=500, body=f"bad {CANARIES['slack_path']}")
    responses.post(SLACK, body="ok")
    responses.post(TWILIO, status=401, json={"message": "Authenticate"})
    responses.post(HOOK.split("?")[0], body=requests_error())

    integration = IntegrationFactory(consecutive_failures=5)
    rule = AlertRuleFactory(
        integration=integration,
        condition_metric="consecutive_failures",
        condition_operator=">=",
        condition_threshold=Decimal(3),
        notification_channels=["email", "slack", "sms", "webhook"],
        notification_recipients=["ops@example.com", "+14155550100", SLACK, HOOK],
        escalation_enabled=True,
        escalation_after_minutes=5,
        escalation_recipients=[SLACK, HOOK],
        webhook_secret={"secret": CANARIES["rule_webhook"]},
    )
    rule.full_clean()

    with django_capture_on_commit_callbacks(execute=True):
        engine.evaluate(now=now)
    incident = Incident.objects.get(alert_rule=rule)
    with django_capture_on_commit_callbacks(execute=True):
        escalation.escalate_due(
            now + incident.alert_rule.escalation_after_minutes * 2 * _min()
        )
    with django_capture_on_commit_callbacks(execute=True):
        incidents.resolve(incident.pk, manager, "done")

    incident.refresh_from_db()
    statuses = {e["status"] for e in incident.notifications_sent or []}
    assert {"sent", "gave_up"} <= statuses  # the flow really ran every channel
    assert len(responses.calls) >= 4

    stored = (
        _rows(Incident)
        + _rows(AuditEvent)
        + _rows(AlertRule)
        .replace(
            # The rule keeps its recipients; only the sealed secret must stay hidden.
            SLACK,
            "",
        )
        .replace(HOOK, "")
    )
    logged = "\n".join(
        record.getMessage() + (record.exc_text or "") for record in caplog.records
    )
    for name, canary in CANARIES.items():
        assert canary not in _rows(Incident), f"{name} in an incident"
        assert canary not in _rows(AuditEvent), f"{name} in the audit log"
        assert canary not in logged, f"{name} in a log record"
    assert CANARIES["rule_webhook"] not in stored


def requests_error() -> Exception:
    import requests

    return requests.exceptions.ConnectionError(f"refused {HOOK}")


def _min() -> Any:
    import datetime

    return datetime.timedelta(minutes=1)
