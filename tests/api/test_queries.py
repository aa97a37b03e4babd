"""Every list runs as many queries for 500 rows as for 5."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from integrations_app.models import (
    AuditEvent,
    Dependency,
    HealthCheck,
    Integration,
    SystemConfig,
)
from metrics_app.models import Baseline, Metric

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 30)


def integrations(n: int, tag: str) -> list[Integration]:
    return Integration.objects.bulk_create(
        Integration(
            name=f"{tag}_{i}",
            display_name=f"{tag} {i}",
            service_type="api",
            auth_type="bearer",
            auth_config={"token": "t"},
            base_url=f"https://{tag}{i}.example.com",
        )
        for i in range(n)
    )


def rules(owners: list[Integration]) -> list[AlertRule]:
    return AlertRule.objects.bulk_create(
        AlertRule(
            integration=owner,
            rule_name=f"rule {owner.name}",
            alert_type="availability",
            condition_metric="consecutive_failures",
            condition_operator=">",
            condition_threshold=2,
            severity="critical",
            notification_recipients=["a@example.com", "https://hooks.example.com/x"],
        )
        for owner in owners
    )


def owner_of(world: dict[str, Any], key: str) -> Integration:
    if key not in world:
        world[key] = integrations(1, key)[0]
    owner: Integration = world[key]
    return owner


def fill_integrations(n: int, world: dict[str, Any]) -> str:
    owners = integrations(n, f"svc{n}")
    Metric.objects.bulk_create(
        Metric(integration=o, metric_date=TODAY, metric_hour=h, total_checks=12)
        for o in owners
        for h in (1, 2)
    )
    made = rules(owners)
    Incident.objects.bulk_create(
        Incident(
            alert_rule=r, integration=r.integration, alert_message="x", severity="info"
        )
        for r in made
    )
    return "/api/integrations/"


def fill_health_checks(n: int, world: dict[str, Any]) -> str:
    owner = owner_of(world, "owner")
    HealthCheck.objects.bulk_create(
        HealthCheck(integration=owner, is_successful=True, health_status="healthy")
        for _ in range(n)
    )
    return f"/api/integrations/{owner.pk}/health-checks/"


def fill_metrics(n: int, world: dict[str, Any]) -> str:
    owner = owner_of(world, "owner")
    start = world.get("metric_hours", 0)
    world["metric_hours"] = start + n
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    Metric.objects.bulk_create(
        Metric(
            integration=owner,
            metric_date=(now - datetime.timedelta(hours=h)).date(),
            metric_hour=(now - datetime.timedelta(hours=h)).hour,
        )
        for h in range(start, start + n)
    )
    since = (now - datetime.timedelta(days=90)).date()
    return f"/api/integrations/{owner.pk}/metrics/?since={since}"


def fill_dependencies(n: int, world: dict[str, Any]) -> str:
    hub = owner_of(world, "hub")
    Dependency.objects.bulk_create(
        Dependency(integration=o, depends_on=hub, dependency_type="hard")
        for o in integrations(n, f"dep{n}")
    )
    return "/api/dependencies/"


def fill_rules(n: int, world: dict[str, Any]) -> str:
    rules(integrations(n, f"rule{n}"))
    return "/api/alert-rules/"


def fill_incidents(n: int, world: dict[str, Any]) -> str:
    fill_integrations(n, world)
    return "/api/incidents/"


def fill_windows(n: int, world: dict[str, Any]) -> str:
    owners = integrations(n, f"win{n}")
    start = timezone.now()
    made = MaintenanceWindow.objects.bulk_create(
        MaintenanceWindow(
            title=f"w{i}",
            scheduled_start=start,
            scheduled_end=start + datetime.timedelta(hours=1),
        )
        for i in range(n)
    )
    through = MaintenanceWindow.affected_integrations.through
    through.objects.bulk_create(
        through(maintenancewindow=w, integration=o)
        for w, o in zip(made, owners, strict=True)
    )
    return "/api/maintenance-windows/"


def fill_baselines(n: int, world: dict[str, Any]) -> str:
    Baseline.objects.bulk_create(
        Baseline(integration=o, baseline_start_date=TODAY, baseline_end_date=TODAY)
        for o in integrations(n, f"base{n}")
    )
    return "/api/baselines/"


def fill_config(n: int, world: dict[str, Any]) -> str:
    SystemConfig.objects.bulk_create(
        SystemConfig(config_key=f"extra_{n}_{i}", config_value=i) for i in range(n)
    )
    return "/api/system-config/"


def fill_audit(n: int, world: dict[str, Any]) -> str:
    AuditEvent.objects.bulk_create(
        AuditEvent(action="update", object_type="x", object_id=str(i)) for i in range(n)
    )
    return "/api/audit-log/"


FILLERS: list[Callable[[int, dict[str, Any]], str]] = [
    fill_integrations,
    fill_health_checks,
    fill_metrics,
    fill_dependencies,
    fill_rules,
    fill_incidents,
    fill_windows,
    fill_baselines,
    fill_config,
    fill_audit,
]


@pytest.mark.parametrize("fill", FILLERS, ids=lambda f: f.__name__[5:])
def test_a_list_of_500_runs_the_queries_of_a_list_of_5(
    fill: Callable[[int, dict[str, Any]], str],
    api_as: Any,
    superadmin: Any,
    django_assert_max_num_queries: Any,
) -> None:
    client = api_as(superadmin)
    world: dict[str, Any] = {}
    url = fill(5, world)
    sep = "&" if "?" in url else "?"
    client.get(f"{url}{sep}page_size=500")  # warm the role and token caches alike

    with CaptureQueriesContext(connection) as few:
        small = client.get(f"{url}{sep}page_size=500")
    fill(495, world)
    with django_assert_max_num_queries(len(few.captured_queries)):
        large = client.get(f"{url}{sep}page_size=500")

    assert small.status_code == large.status_code == 200
    assert len(large.data["results"]) >= 500
