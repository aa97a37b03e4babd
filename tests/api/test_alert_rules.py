from __future__ import annotations

from typing import Any

import pytest

from alerts_app.models import AlertRule
from integrations_app.credentials import PLACEHOLDER
from integrations_app.models import AuditEvent
from tests.api.factories import AlertRuleFactory, IncidentFactory

pytestmark = pytest.mark.django_db

URL = "/api/alert-rules/"


def valid(**overrides: Any) -> dict[str, Any]:
    body = {
        "rule_name": "down for long",
        "alert_type": "availability",
        "condition_metric": "consecutive_failures",
        "condition_operator": ">=",
        "condition_threshold": "3",
        "severity": "critical",
        "notification_channels": ["email", "sms"],
        "notification_recipients": ["oncall@example.com", "+15551234567"],
    }
    body.update(overrides)
    return body


@pytest.fixture
def as_manager(api_as: Any, manager: Any) -> Any:
    return api_as(manager)


def test_it_creates_a_rule_owned_by_its_creator(as_manager: Any, manager: Any) -> None:
    response = as_manager.post(URL, valid(), format="json")

    assert response.status_code == 201, response.data
    rule = AlertRule.objects.get(pk=response.data["id"])
    assert rule.created_by == manager
    assert response.data["created_by"] == manager.username
    assert AuditEvent.objects.filter(action="create", object_id=str(rule.pk)).exists()


BAD = [
    ("condition_operator", "=~"),
    ("condition_operator", "<>"),
    ("condition_threshold", "NaN"),
    ("condition_threshold", "Infinity"),
    ("condition_threshold", "-Infinity"),
    ("condition_threshold", "1e400"),
    ("condition_threshold", "abc"),
    ("condition_threshold", None),
    ("condition_metric", "cpu"),
    ("severity", "apocalyptic"),
    ("condition_duration_minutes", -1),
    ("condition_duration_minutes", 100000),
    ("cooldown_minutes", -5),
    ("escalation_after_minutes", 0),
    ("notification_channels", []),
    ("notification_channels", ["pigeon"]),
    ("notification_channels", ["email", "email"]),
    ("notification_recipients", ["not-an-address"]),
    ("notification_recipients", ["+1"]),
    ("notification_recipients", ["oncall@example.com", "oncall@example.com"]),
    ("notification_recipients", ["x@example.com"] * 51),
    ("business_days", [0]),
    ("business_days", [8]),
    ("business_days", []),
    ("business_days", [1, 1]),
    ("business_hours_start", "25:00"),
    ("business_hours_end", "8pm"),
    ("webhook_secret", "too-short"),
    ("rule_name", ""),
    ("rule_name", "x" * 256),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=lambda v: repr(v)[:40])
def test_it_refuses_a_bad_rule_naming_the_field(
    as_manager: Any, field: str, value: Any
) -> None:
    response = as_manager.post(URL, valid(**{field: value}), format="json")

    assert response.status_code == 400
    assert field in response.data
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("channels", "recipient"),
    [
        (["webhook"], "http://127.0.0.1:9000/hook"),
        (["webhook"], "ftp://hooks.example.com/x"),
        (["slack"], "general"),
        (["webhook"], "https://hooks.example.com/a b"),
        (["email"], "+15551234567"),
        (["sms"], "oncall@example.com"),
    ],
)
def test_a_recipient_must_suit_one_of_the_rule_channels(
    as_manager: Any, channels: list[str], recipient: str
) -> None:
    body = valid(notification_channels=channels, notification_recipients=[recipient])

    response = as_manager.post(URL, body, format="json")

    assert response.status_code == 400
    assert "notification_recipients" in response.data


def test_business_hours_may_cross_midnight(as_manager: Any) -> None:
    body = valid(business_hours_start="22:00", business_hours_end="06:00")

    response = as_manager.post(URL, body, format="json")

    assert response.status_code == 201, response.data
    assert response.data["business_hours_end"] == "06:00"


def test_the_webhook_secret_is_write_only_and_kept_unless_replaced(
    as_manager: Any,
) -> None:
    body = valid(
        notification_channels=["webhook"],
        notification_recipients=["https://hooks.example.com/in"],
        webhook_secret="a-secret-of-enough-length",
    )
    created = as_manager.post(URL, body, format="json")
    assert created.status_code == 201, created.data
    url = f"{URL}{created.data['id']}/"

    as_manager.patch(url, {"rule_name": "renamed"}, format="json")
    as_manager.patch(url, {"webhook_secret": PLACEHOLDER}, format="json")
    read = as_manager.get(url)

    assert "webhook_secret" not in read.data
    assert read.data["webhook_secret_set"] is True
    assert "a-secret-of-enough-length" not in str(read.data)
    rule = AlertRule.objects.get(pk=created.data["id"])
    assert rule.webhook_secret.reveal() == {"secret": "a-secret-of-enough-length"}


def test_escalation_needs_someone_to_escalate_to(as_manager: Any) -> None:
    response = as_manager.post(URL, valid(escalation_enabled=True), format="json")

    assert response.status_code == 400
    assert "escalation_recipients" in response.data


def test_webhook_urls_read_back_masked_and_the_mask_keeps_them(
    as_manager: Any,
) -> None:
    secret_url = "https://hooks.example.com/services/T000/B000/XXXXSECRET"
    rule = AlertRuleFactory(
        notification_channels=["webhook", "email"],
        notification_recipients=[secret_url, "a@example.com"],
        webhook_secret={"secret": "sixteen-or-more-characters"},
    )

    read = as_manager.get(f"{URL}{rule.pk}/")
    assert read.data["notification_recipients"] == [
        f"https://hooks.example.com/{PLACEHOLDER}",
        "a@example.com",
    ]
    response = as_manager.patch(
        f"{URL}{rule.pk}/",
        {
            "notification_recipients": [
                *read.data["notification_recipients"],
                "b@example.com",
            ]
        },
        format="json",
    )

    assert response.status_code == 200, response.data
    assert "SECRET" not in str(response.data)
    rule.refresh_from_db()
    assert rule.notification_recipients == [
        secret_url,
        "a@example.com",
        "b@example.com",
    ]


READ_ONLY = {
    "id": "00000000-0000-0000-0000-000000000001",
    "last_triggered": "2020-01-01T00:00:00Z",
    "trigger_count": 77,
    "created_by": 1,
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
}


@pytest.mark.parametrize(("field", "value"), READ_ONLY.items())
def test_a_read_only_rule_field_sent_is_never_stored(
    as_manager: Any, superadmin: Any, field: str, value: Any
) -> None:
    rule = AlertRuleFactory()
    if field == "created_by":
        value = superadmin.pk

    response = as_manager.patch(f"{URL}{rule.pk}/", {field: value}, format="json")

    assert response.status_code == 200
    fresh = AlertRule.objects.get(pk=rule.pk)
    assert fresh.trigger_count == 0
    assert fresh.last_triggered is None
    assert fresh.created_by is None
    assert fresh.created_at.year != 2020


def test_deleting_a_rule_with_incidents_is_a_conflict_not_an_error(
    as_manager: Any,
) -> None:
    incident = IncidentFactory(status="resolved")

    response = as_manager.delete(f"{URL}{incident.alert_rule_id}/")

    assert response.status_code == 409
    assert AlertRule.objects.filter(pk=incident.alert_rule_id).exists()
