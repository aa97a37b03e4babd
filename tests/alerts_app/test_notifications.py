from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.db import connection

from alerts_app import quota
from alerts_app.models import Incident
from alerts_app.notifications import dispatch
from alerts_app.notifications.base import fingerprint
from alerts_app.tasks import send_notification
from alerts_app.validation import check_recipient
from integrations_app.models import SystemConfig
from tests.alerts_app.factories import AlertRuleFactory, IncidentFactory
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.com/services/T000/B000/slack-path-secret"
HOOK = "https://hooks.example.com/alerts?token=hook-query-secret"
TWILIO = "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
PUBLIC_IP = "93.184.216.34"


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer every lookup with one public address: there is no internet here."""

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port or 443))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture(autouse=True)
def providers(settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "twilio-token-secret"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.ALERT_WEBHOOK_SECRET = "global-webhook-secret-value"
    settings.SLACK_WEBHOOK_URL = ""
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 3


def _incident(
    channels: list[str], recipients: list[str], severity: str = "critical", **kw: Any
) -> Incident:
    rule = AlertRuleFactory(
        severity=severity,
        notification_channels=channels,
        notification_recipients=recipients,
        **kw,
    )
    return IncidentFactory(alert_rule=rule, severity=severity)


def _send_all(incident: Incident, event: str = "opened", level: int = 0) -> list[bool]:
    chosen = dispatch.dispatch(incident.pk, event, level)
    return [
        dispatch.deliver(incident.pk, event, channel, fingerprint(recipient), level, 1)
        for channel, recipient in chosen
    ]


def _entries(incident: Incident) -> list[dict[str, Any]]:
    incident.refresh_from_db()
    return list(incident.notifications_sent or [])


def test_email_goes_through_djangos_mail_and_is_recorded(mailoutbox: Any) -> None:
    incident = _incident(["email"], ["oncall@example.com", "+14155550100"])

    assert _send_all(incident) == [False]

    [mail] = mailoutbox
    assert mail.to == ["oncall@example.com"]
    assert mail.subject.startswith("CRITICAL: ")
    assert incident.alert_message in mail.body
    statuses = [(e["channel"], e["recipient"], e["status"]) for e in _entries(incident)]
    assert statuses == [
        ("email", "oncall@example.com", "queued"),
        ("email", "oncall@example.com", "sent"),
    ]


@responses.activate
def test_slack_posts_the_message_to_the_incoming_webhook() -> None:
    responses.post(SLACK, body="ok")
    incident = _incident(["slack"], [SLACK])

    _send_all(incident)

    [call] = responses.calls
    document = json.loads(call.request.body)
    assert incident.alert_message in document["text"]
    assert document["attachments"][0]["color"] == "#cf222e"
    sent = _entries(incident)[-1]
    assert sent["status"] == "sent"
    assert "slack-path-secret" not in json.dumps(sent)


@responses.activate
def test_slack_falls_back_to_the_configured_webhook(settings: Any) -> None:
    settings.SLACK_WEBHOOK_URL = SLACK
    responses.post(SLACK, body="ok")
    incident = _incident(["slack"], ["oncall@example.com"])

    _send_all(incident)

    assert len(responses.calls) == 1


@responses.activate
def test_sms_posts_a_form_to_twilio_with_basic_auth() -> None:
    responses.post(TWILIO, status=201, json={"sid": "SM1"})
    incident = _incident(["sms"], ["+14155550100"], severity="urgent")

    _send_all(incident)

    [call] = responses.calls
    form = parse_qs(call.request.body.decode())
    assert form["To"] == ["+14155550100"]
    assert form["From"] == ["+15005550006"]
    assert incident.alert_message in form["Body"][0]
    expected = base64.b64encode(b"AC123:twilio-token-secret").decode()
    assert call.request.headers["Authorization"] == f"Basic {expected}"
    assert _entries(incident)[-1]["status"] == "sent"


@pytest.mark.parametrize("severity", ["info", "warning"])
def test_sms_is_only_for_critical_and_urgent(severity: str) -> None:
    incident = _incident(["sms"], ["+14155550100"], severity=severity)

    assert dispatch.dispatch(incident.pk, "opened") == []


@responses.activate
@pytest.mark.parametrize("own_secret", [None, "rule-specific-secret-1234"])
def test_the_webhook_body_is_signed_and_carries_its_timestamp(
    own_secret: str | None,
) -> None:
    responses.post(HOOK.split("?")[0], status=204)
    incident = _incident(
        ["webhook"],
        [HOOK],
        webhook_secret={"secret": own_secret} if own_secret else None,
    )

    _send_all(incident)

    [call] = responses.calls
    body = call.request.body
    secret = own_secret or "global-webhook-secret-value"
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert call.request.headers["X-Signature"] == expected
    document = json.loads(body)
    assert str(document["timestamp"]) == call.request.headers["X-Timestamp"]
    assert document["event"] == "opened"
    assert document["incident"]["id"] == str(incident.pk)


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 429},
        {"body": requests.exceptions.ConnectTimeout("no answer")},
        {"body": requests.exceptions.ConnectionError("reset")},
    ],
)
def test_a_failing_provider_is_retried_and_every_attempt_recorded(
    failure: dict[str, Any],
) -> None:
    responses.post(SLACK, **failure)
    responses.post(SLACK, **failure)
    responses.post(SLACK, body="ok")
    incident = _incident(["slack"], [SLACK])
    [(channel, recipient)] = dispatch.dispatch(incident.pk, "opened")
    key = fingerprint(recipient)

    again = [
        dispatch.deliver(incident.pk, "opened", channel, key, 0, n) for n in (1, 2, 3)
    ]

    assert again == [True, True, False]
    outcomes = [(e["status"], e["attempt"]) for e in _entries(incident)]
    assert outcomes == [("queued", 0), ("failed", 1), ("failed", 2), ("sent", 3)]
    assert all(e["error"] for e in _entries(incident) if e["status"] == "failed")


@responses.activate
def test_a_provider_that_keeps_failing_is_given_up_after_the_last_attempt() -> None:
    responses.post(SLACK, status=503)
    incident = _incident(["slack"], [SLACK])
    [(channel, recipient)] = dispatch.dispatch(incident.pk, "opened")

    again = [
        dispatch.deliver(incident.pk, "opened", channel, fingerprint(recipient), 0, n)
        for n in (1, 2, 3)
    ]

    assert again == [True, True, False]
    assert _entries(incident)[-1]["status"] == "gave_up"
    assert Incident.objects.get(pk=incident.pk).status == "open"


@responses.activate
def test_a_refusal_that_cannot_improve_is_not_retried() -> None:
    responses.post(TWILIO, status=400, json={"code": 21211})
    incident = _incident(["sms"], ["+14155550100"])

    assert _send_all(incident) == [False]

    assert _entries(incident)[-1]["status"] == "gave_up"
    assert len(responses.calls) == 1


@responses.activate
def test_the_send_task_retries_with_backoff_until_it_gives_up(settings: Any) -> None:
    responses.post(SLACK, status=500)
    incident = _incident(["slack"], [SLACK])
    [(channel, recipient)] = dispatch.dispatch(incident.pk, "opened")

    send_notification.apply(
        args=[str(incident.pk), "opened", channel, fingerprint(recipient)]
    )

    outcomes = [(e["status"], e["attempt"]) for e in _entries(incident)]
    assert outcomes == [("queued", 0), ("failed", 1), ("failed", 2), ("gave_up", 3)]
    assert len(responses.calls) == 3


def test_a_sent_notification_is_not_sent_twice(mailoutbox: Any) -> None:
    incident = _incident(["email"], ["oncall@example.com"])
    [(channel, recipient)] = dispatch.dispatch(incident.pk, "opened")

    for _ in range(2):
        dispatch.deliver(incident.pk, "opened", channel, fingerprint(recipient), 0, 1)

    assert len(mailoutbox) == 1
    assert dispatch.dispatch(incident.pk, "opened") == []


@responses.activate
def test_the_resolution_goes_to_the_same_recipients(
    mailoutbox: Any, manager: Any
) -> None:
    from alerts_app import incidents

    responses.post(SLACK, body="ok")
    incident = _incident(["email", "slack"], ["oncall@example.com", SLACK])
    _send_all(incident)
    incidents.resolve(incident.pk, manager, "Fixed the pool")

    _send_all(incident, "resolved")

    assert [m.subject for m in mailoutbox][-1].startswith("RESOLVED")
    assert "Fixed the pool" in mailoutbox[-1].body
    assert len(responses.calls) == 2
    resolved = [e for e in _entries(incident) if e["event"] == "resolved"]
    assert {(e["channel"], e["status"]) for e in resolved} >= {
        ("email", "sent"),
        ("slack", "sent"),
    }


def test_an_incident_blamed_on_an_upstream_notifies_nobody_but_records_it(
    mailoutbox: Any,
) -> None:
    incident = _incident(["email"], ["oncall@example.com"])
    Incident.objects.filter(pk=incident.pk).update(caused_by=IntegrationFactory())

    assert dispatch.dispatch(incident.pk, "opened") == []

    assert mailoutbox == []
    [held] = _entries(incident)
    assert held["status"] == "held"


def test_the_hourly_limit_holds_back_and_records_what_it_held(now: Any) -> None:
    SystemConfig.objects.filter(config_key="notification_rate_limit").update(
        config_value=2
    )
    integration = IntegrationFactory()
    incidents = [
        IncidentFactory(alert_rule=AlertRuleFactory(integration=integration))
        for _ in range(3)
    ]

    chosen = [dispatch.dispatch(incident.pk, "opened") for incident in incidents]

    assert [len(c) for c in chosen] == [1, 1, 0]
    [held] = _entries(incidents[2])
    assert held["status"] == "rate_limited"


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_workers(now: Any) -> None:
    integration = IntegrationFactory()
    barrier = threading.Barrier(4)
    won: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(5):
                result = quota.take(integration.pk, 5, now)
                with lock:
                    won.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(won) == 20
    assert won.count(True) == 5


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ops@example.com", "email"),
        ("+14155550100", "sms"),
        (SLACK, "slack"),
        (HOOK, "webhook"),
    ],
)
def test_valid_recipients_name_their_channel(value: str, kind: str) -> None:
    assert check_recipient(value) == kind


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not an address",
        "ops@",
        "+0123",
        "14155550100",
        "+1 415 555 0100",
        "ftp://files.example.com/x",
        "http://hooks.example.com/alert",
        "http://127.0.0.1:9000/alert",
        "https://169.254.169.254/latest",
        "https://10.0.0.8/alert",
        "javascript:alert(1)",
        " ops@example.com",
        "ops@example.com\r\nBcc: x@example.com",
        42,
        None,
    ],
)
def test_bad_recipients_are_refused_with_a_clear_error(value: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        check_recipient(value)

    assert caught.value.messages[0]


def test_plain_http_is_allowed_only_into_an_allowed_network(settings: Any) -> None:
    import ipaddress

    settings.MONITOR_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    assert check_recipient("http://10.1.2.3:8080/hook") == "webhook"
