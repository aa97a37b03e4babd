from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from alerts_app.models import AlertRule
from tests.alerts_app.factories import AlertRuleFactory

pytestmark = pytest.mark.django_db


def _form(rule: AlertRule, **change: Any) -> dict[str, Any]:
    data = {
        "rule_name": rule.rule_name,
        "alert_type": rule.alert_type,
        "condition_metric": rule.condition_metric,
        "condition_operator": rule.condition_operator,
        "condition_threshold": str(rule.condition_threshold),
        "condition_duration_minutes": 5,
        "severity": rule.severity,
        "auto_resolve": "on",
        "cooldown_minutes": 15,
        "notification_channels": "webhook",
        "notification_recipients": "https://hooks.example.com/in",
        "escalation_after_minutes": 30,
        "is_active": "on",
        "business_hours_start": "08:00",
        "business_hours_end": "18:00",
        "business_days": "1,2,3,4,5",
    }
    data.update(change)
    return data


def test_the_webhook_secret_is_write_only_in_the_admin(
    manager: Any, settings: Any
) -> None:
    settings.ALERT_WEBHOOK_SECRET = ""
    rule = AlertRuleFactory(integration=None)
    client = Client()
    client.force_login(manager)
    url = f"/admin/alerts_app/alertrule/{rule.pk}/change/"

    refused = client.post(url, _form(rule))
    assert refused.status_code == 200
    assert "new_webhook_secret" in refused.context["adminform"].form.errors

    saved = client.post(url, _form(rule, new_webhook_secret="s3cret-value-long-enough"))
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert rule.webhook_secret.reveal() == {"secret": "s3cret-value-long-enough"}

    page = client.get(url)
    assert b"s3cret-value-long-enough" not in page.content

    kept = client.post(url, _form(rule, rule_name="renamed"))
    assert kept.status_code == 302
    rule.refresh_from_db()
    assert rule.webhook_secret.reveal() == {"secret": "s3cret-value-long-enough"}


def test_admin_actions_move_incidents_through_the_lifecycle(manager: Any) -> None:
    from integrations_app.models import AuditEvent
    from tests.alerts_app.factories import IncidentFactory

    open_one, resolved = IncidentFactory(), IncidentFactory(status="resolved")
    client = Client()
    client.force_login(manager)

    response = client.post(
        "/admin/alerts_app/incident/",
        {"action": "acknowledge", "_selected_action": [open_one.pk, resolved.pk]},
    )

    assert response.status_code == 302
    open_one.refresh_from_db()
    assert (open_one.status, open_one.acknowledged_by) == ("acknowledged", manager)
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1
