"""The database itself refuses rows the schema forbids."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from integrations_app.models import Integration, SystemConfig

pytestmark = pytest.mark.django_db


def insert(table: str, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
            list(values.values()),
        )


def integration_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "name": f"svc_{uuid.uuid4().hex[:8]}",
        "display_name": "Svc",
        "service_type": "api",
        "auth_type": "none",
    }
    row.update(overrides)
    return row


@pytest.fixture
def integration_id() -> str:
    row = integration_row()
    insert("integrations", **row)
    return str(Integration.objects.get(name=row["name"]).pk)


@pytest.fixture
def rule_id(integration_id: str) -> str:
    rid = str(uuid.uuid4())
    insert(
        "alert_rules",
        id=rid,
        integration_id=integration_id,
        rule_name="r",
        alert_type="availability",
        condition_metric="health_status",
        condition_operator=">",
        condition_threshold=1,
        severity="critical",
    )
    return rid


def test_a_row_with_only_required_columns_takes_the_schema_defaults() -> None:
    row = integration_row()
    insert("integrations", **row)
    stored = Integration.objects.get(name=row["name"])

    assert stored.category == "external"
    assert stored.is_active is True
    assert stored.is_critical is False
    assert stored.monitoring_enabled is True
    assert stored.health_check_interval_minutes == 5
    assert stored.timeout_seconds == 30
    assert stored.current_health_status == "unknown"
    assert stored.consecutive_failures == 0
    assert stored.environment == "production"
    assert stored.expected_response_codes == [200]
    assert stored.health_check_method == "GET"
    assert stored.created_at is not None


@pytest.mark.parametrize(
    "column, value",
    [
        ("current_health_status", "down"),
        ("environment", "prod"),
        ("health_check_method", "DELETE"),
    ],
)
def test_integrations_refuse_values_outside_their_checks(
    column: str, value: str
) -> None:
    with pytest.raises(IntegrityError):
        insert("integrations", **integration_row(**{column: value}))


def test_integration_names_are_unique() -> None:
    insert("integrations", **integration_row(name="dup"))
    with pytest.raises(IntegrityError):
        insert("integrations", **integration_row(name="dup"))


def test_health_checks_refuse_an_unknown_status(integration_id: str) -> None:
    with pytest.raises(IntegrityError):
        insert(
            "integration_health_checks",
            integration_id=integration_id,
            is_successful=True,
            health_status="fine",
        )


def test_health_checks_require_a_result(integration_id: str) -> None:
    with pytest.raises(IntegrityError):
        insert(
            "integration_health_checks",
            integration_id=integration_id,
            health_status="healthy",
        )


@pytest.mark.parametrize("hour", [-1, 24])
def test_metrics_refuse_an_hour_outside_the_day(integration_id: str, hour: int) -> None:
    with pytest.raises(IntegrityError):
        insert(
            "integration_metrics",
            integration_id=integration_id,
            metric_date="2026-01-01",
            metric_hour=hour,
        )


def test_metrics_are_unique_per_integration_and_hour(integration_id: str) -> None:
    insert(
        "integration_metrics",
        integration_id=integration_id,
        metric_date="2026-01-01",
        metric_hour=3,
    )
    with pytest.raises(IntegrityError):
        insert(
            "integration_metrics",
            integration_id=integration_id,
            metric_date="2026-01-01",
            metric_hour=3,
        )


def test_generated_percentages_follow_the_counts(integration_id: str) -> None:
    insert(
        "integration_metrics",
        integration_id=integration_id,
        metric_date="2026-01-01",
        metric_hour=1,
        total_checks=8,
        successful_checks=6,
        failed_checks=2,
        error_count=1,
    )
    insert(
        "integration_metrics",
        integration_id=integration_id,
        metric_date="2026-01-01",
        metric_hour=2,
        total_checks=3,
        successful_checks=1,
        failed_checks=2,
        error_count=2,
    )
    insert(
        "integration_metrics",
        integration_id=integration_id,
        metric_date="2026-01-01",
        metric_hour=4,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT metric_hour, uptime_percentage, error_rate FROM integration_metrics"
            " WHERE integration_id = %s ORDER BY metric_hour",
            [integration_id],
        )
        rows = [
            (h, str(u) if u is not None else None, str(e) if e is not None else None)
            for h, u, e in cursor.fetchall()
        ]

    assert rows == [(1, "75.00", "12.50"), (2, "33.33", "66.67"), (4, None, None)]


def test_generated_columns_cannot_be_written(integration_id: str) -> None:
    with pytest.raises(Exception, match="generated"):
        insert(
            "integration_metrics",
            integration_id=integration_id,
            metric_date="2026-01-01",
            metric_hour=5,
            uptime_percentage=50,
        )


@pytest.mark.parametrize(
    "column, value",
    [("condition_operator", "=~"), ("severity", "catastrophic")],
)
def test_alert_rules_refuse_values_outside_their_checks(
    integration_id: str, column: str, value: str
) -> None:
    row = {
        "integration_id": integration_id,
        "rule_name": "r",
        "alert_type": "availability",
        "condition_metric": "health_status",
        "condition_operator": ">",
        "condition_threshold": 1,
        "severity": "critical",
        column: value,
    }
    with pytest.raises(IntegrityError):
        insert("alert_rules", **row)


@pytest.mark.parametrize(
    "column, value", [("status", "closed"), ("business_impact", "enormous")]
)
def test_incidents_refuse_values_outside_their_checks(
    integration_id: str, rule_id: str, column: str, value: str
) -> None:
    with pytest.raises(IntegrityError):
        insert(
            "alert_incidents",
            alert_rule_id=rule_id,
            integration_id=integration_id,
            alert_message="m",
            severity="critical",
            **{column: value},
        )


def test_a_rule_has_at_most_one_live_incident_per_integration(
    integration_id: str, rule_id: str
) -> None:
    base = {
        "alert_rule_id": rule_id,
        "integration_id": integration_id,
        "alert_message": "m",
        "severity": "critical",
    }
    insert("alert_incidents", **base, status="resolved")
    insert("alert_incidents", **base, status="resolved")
    insert("alert_incidents", **base, status="open")
    with pytest.raises(IntegrityError):
        insert("alert_incidents", **base, status="acknowledged")
    with pytest.raises(IntegrityError):
        insert("alert_incidents", **base, status="open")


def test_dependencies_refuse_self_reference_and_duplicates(integration_id: str) -> None:
    other = integration_row()
    insert("integrations", **other)
    other_id = str(Integration.objects.get(name=other["name"]).pk)

    with pytest.raises(IntegrityError):
        insert(
            "integration_dependencies",
            integration_id=integration_id,
            depends_on_integration_id=integration_id,
            dependency_type="hard",
        )
    insert(
        "integration_dependencies",
        integration_id=integration_id,
        depends_on_integration_id=other_id,
        dependency_type="hard",
    )
    with pytest.raises(IntegrityError):
        insert(
            "integration_dependencies",
            integration_id=integration_id,
            depends_on_integration_id=other_id,
            dependency_type="soft",
        )


@pytest.mark.parametrize(
    "column, value", [("status", "running"), ("expected_impact", "some")]
)
def test_maintenance_windows_refuse_values_outside_their_checks(
    column: str, value: str
) -> None:
    with pytest.raises(IntegrityError):
        insert(
            "maintenance_windows",
            title="t",
            scheduled_start="2026-01-01T10:00Z",
            scheduled_end="2026-01-01T11:00Z",
            **{column: value},
        )


def test_maintenance_windows_must_end_after_they_start() -> None:
    with pytest.raises(IntegrityError):
        insert(
            "maintenance_windows",
            title="t",
            scheduled_start="2026-01-01T10:00Z",
            scheduled_end="2026-01-01T10:00Z",
        )


def test_baselines_are_unique_per_integration_type_and_start(
    integration_id: str,
) -> None:
    row = {
        "integration_id": integration_id,
        "baseline_start_date": "2026-01-01",
        "baseline_end_date": "2026-01-30",
    }
    insert("integration_baselines", **row)
    with pytest.raises(IntegrityError):
        insert("integration_baselines", **row)


def test_system_config_keys_are_unique_and_values_required() -> None:
    with pytest.raises(IntegrityError):
        insert(
            "integration_system_config",
            config_key="max_consecutive_failures",
            config_value="4",
        )
    with pytest.raises(IntegrityError):
        insert("integration_system_config", config_key="new_key", config_value=None)


def test_the_data_migration_loads_config_examples_and_roles() -> None:
    from django.contrib.auth.models import Group

    config = dict(SystemConfig.objects.values_list("config_key", "config_value"))
    assert config == {
        "default_health_check_interval": 5,
        "default_timeout_seconds": 30,
        "max_consecutive_failures": 3,
        "alert_cooldown_minutes": 15,
        "metrics_retention_days": 90,
        "health_check_retention_days": 30,
        "enable_auto_recovery_detection": True,
        "business_hours_start": "08:00",
        "business_hours_end": "18:00",
        "notification_rate_limit": 5,
    }
    names = set(Integration.objects.values_list("name", flat=True))
    assert {
        "google_calendar",
        "supabase_db",
        "stripe_payments",
        "twilio_sms",
        "cloudflare_cdn",
    } <= names
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "staff",
        "manager",
        "superadmin",
    }
