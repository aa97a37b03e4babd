from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from metrics_app.models import Baseline, Metric
from tests.integrations_app.factories import (
    DependencyFactory,
    HealthCheckFactory,
    IntegrationFactory,
)


def make_rule(integration: Any, **extra: Any) -> AlertRule:
    return AlertRule.objects.create(
        integration=integration,
        rule_name=extra.pop("rule_name", "down"),
        alert_type="availability",
        condition_metric="health_status",
        condition_operator=">=",
        condition_threshold=2,
        severity="critical",
        **extra,
    )


@pytest.fixture
def world(other_staff: Any) -> dict[str, Any]:
    """Create one row in every table the policies guard, as the system."""
    integration = IntegrationFactory()
    rule = make_rule(integration)
    today = timezone.now().date()
    window = MaintenanceWindow.objects.create(
        title="upgrade",
        scheduled_start=timezone.now(),
        scheduled_end=timezone.now() + datetime.timedelta(hours=1),
    )
    window.affected_integrations.add(integration)
    return {
        "integration": integration,
        "health_check": HealthCheckFactory(integration=integration),
        "metric": Metric.objects.create(
            integration=integration, metric_date=today, metric_hour=3, total_checks=4
        ),
        "baseline": Baseline.objects.create(
            integration=integration,
            baseline_start_date=today - datetime.timedelta(days=30),
            baseline_end_date=today,
        ),
        "dependency": DependencyFactory(integration=integration),
        "rule": rule,
        "open_incident": Incident.objects.create(
            alert_rule=rule,
            integration=integration,
            alert_message="down",
            severity="critical",
        ),
        "acknowledged_incident": Incident.objects.create(
            alert_rule=make_rule(integration, rule_name="slow"),
            integration=integration,
            alert_message="slow",
            severity="warning",
            status="acknowledged",
            acknowledged_by=other_staff,
            acknowledged_at=timezone.now(),
        ),
        "window": window,
    }


@pytest.fixture
def people(staff: Any, manager: Any, superadmin: Any, nobody: Any) -> dict[str, Any]:
    """Name the users by role; the empty role is the user who holds none."""
    return {"staff": staff, "manager": manager, "superadmin": superadmin, "": nobody}


@pytest.fixture(autouse=True)
def _quick_passwords(settings: Any) -> None:
    # The named users are created for every test here; hashing is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
