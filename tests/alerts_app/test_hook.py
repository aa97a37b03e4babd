from __future__ import annotations

import socket
from decimal import Decimal
from typing import Any

import pytest
import responses

from alerts_app.models import Incident
from integrations_app.checks import run_manual_check
from integrations_app.models import Integration
from tests.alerts_app.factories import AlertRuleFactory
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db


@responses.activate
def test_the_check_engines_status_change_opens_the_incident_then_recovery_resolves_it(
    monkeypatch: pytest.MonkeyPatch,
    staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port or 443))
        ],
    )
    integration = IntegrationFactory(
        base_url="https://status.example.com", health_check_endpoint="/health"
    )
    rule = AlertRuleFactory(
        integration=integration,
        condition_metric="health_status",
        condition_operator="==",
        condition_threshold=Decimal(2),
        notification_channels=[],
        notification_recipients=[],
    )
    responses.get("https://status.example.com/health", status=503)

    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            run_manual_check(Integration.objects.get(pk=integration.pk), staff)

    assert (
        Integration.objects.get(pk=integration.pk).current_health_status == "critical"
    )
    [incident] = Incident.objects.filter(alert_rule=rule)
    assert incident.status == "open"

    responses.replace(responses.GET, "https://status.example.com/health", status=200)
    with django_capture_on_commit_callbacks(execute=True):
        run_manual_check(Integration.objects.get(pk=integration.pk), staff)

    incident.refresh_from_db()
    assert incident.status == "resolved"
