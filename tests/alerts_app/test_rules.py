from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from alerts_app.models import AlertRule
from tests.alerts_app.factories import AlertRuleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"condition_threshold": Decimal("NaN")}, "condition_threshold"),
        ({"condition_threshold": Decimal("Infinity")}, "condition_threshold"),
        ({"condition_operator": "=~"}, "condition_operator"),
        ({"condition_metric": "latency"}, "condition_metric"),
        ({"condition_duration_minutes": -1}, "condition_duration_minutes"),
        ({"cooldown_minutes": 10**7}, "cooldown_minutes"),
        ({"escalation_after_minutes": 0}, "escalation_after_minutes"),
        ({"business_days": [0, 8]}, "business_days"),
        ({"business_days": []}, "business_days"),
        ({"notification_channels": ["pager"]}, "notification_channels"),
        ({"notification_recipients": ["not-an-address"]}, "notification_recipients"),
        ({"notification_channels": ["sms"]}, "notification_recipients"),
        ({"notification_channels": ["webhook"]}, "notification_recipients"),
        (
            {"escalation_enabled": True, "escalation_recipients": []},
            "escalation_recipients",
        ),
        ({"escalation_recipients": ["+12"]}, "escalation_recipients"),
        ({"webhook_secret": {"secret": "short"}}, "webhook_secret"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    rule = AlertRuleFactory.build(integration=None, **change)

    with pytest.raises(ValidationError) as caught:
        rule.full_clean()

    assert field in caught.value.message_dict


def test_a_webhook_rule_needs_a_secret_somewhere(settings: Any) -> None:
    settings.ALERT_WEBHOOK_SECRET = ""
    rule = AlertRuleFactory.build(
        integration=None,
        notification_channels=["webhook"],
        notification_recipients=["https://hooks.example.com/x"],
    )

    with pytest.raises(ValidationError) as caught:
        rule.full_clean()

    assert "webhook_secret" in caught.value.message_dict


def test_a_sound_rule_passes() -> None:
    rule = AlertRuleFactory.build(
        integration=None,
        notification_channels=["email", "sms"],
        notification_recipients=["ops@example.com", "+14155550100"],
        escalation_enabled=True,
        escalation_recipients=["lead@example.com"],
    )

    rule.full_clean()
    assert isinstance(rule, AlertRule)
