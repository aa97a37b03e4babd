from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import JSONField, Value
from django.test.utils import CaptureQueriesContext

from alerts_app.models import Incident
from integrations_app.models import HealthCheck, SystemConfig
from metrics_app.models import Baseline, Metric
from metrics_app.retention import clean_up, retention_days
from tests.integrations_app.factories import IntegrationFactory
from tests.metrics_app.factories import (
    BaselineFactory,
    IncidentFactory,
    MetricFactory,
    checks,
    ok,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def configure(key: str, value: Any) -> None:
    if value is _MISSING:
        SystemConfig.objects.filter(config_key=key).delete()
        return
    if value is None:
        # JSON null, which the JSONField would otherwise store as SQL NULL.
        value = Value(None, JSONField())
    SystemConfig.objects.update_or_create(
        config_key=key, defaults={"config_value": value}
    )


_MISSING = object()


@pytest.mark.parametrize(
    ("value", "days", "warns"),
    [
        (14, 14, False),
        (7.0, 7, False),
        (1, 1, False),
        (_MISSING, 30, True),
        (0, 30, True),
        (-3, 30, True),
        (2.5, 30, True),
        ("14", 30, True),
        ("forever", 30, True),
        (None, 30, True),
        (True, 30, True),
        ([14], 30, True),
        ({"days": 14}, 30, True),
        (10**12, 36_500, True),
    ],
)
def test_it_reads_retention_days_and_ignores_bad_values(
    value: Any, days: int, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    configure("health_check_retention_days", value)

    assert retention_days()["health_check_retention_days"] == days
    assert retention_days()["metrics_retention_days"] == 90
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert bool(warned) is warns
    if warns:
        assert "health_check_retention_days" in warned[0].getMessage()


@pytest.fixture
def aged() -> dict[str, Any]:
    """Rows on either side of the default cutoffs (30, 90 and 30 days)."""
    service = IntegrationFactory()
    old_checks = checks(service, NOW - timedelta(days=30, seconds=7), *[ok(100)] * 7)
    fresh_checks = checks(service, NOW - timedelta(days=29, hours=23), ok(100), ok(1))
    old_metric = MetricFactory(integration=service, metric_date=date(2026, 8, 31))
    fresh_metric = MetricFactory(integration=service, metric_date=date(2026, 9, 1))
    retired = BaselineFactory(
        integration=service,
        is_active=False,
        baseline_start_date=date(2026, 8, 1),
        baseline_end_date=date(2026, 8, 30),
    )
    active = BaselineFactory(
        integration=service,
        baseline_start_date=date(2026, 7, 1),
        baseline_end_date=date(2026, 7, 30),
    )
    old_resolved = IncidentFactory(
        integration=service, resolved_at=NOW - timedelta(days=31)
    )
    fresh_resolved = IncidentFactory(
        integration=service, resolved_at=NOW - timedelta(days=29)
    )
    old_open = IncidentFactory(
        integration=service,
        status="open",
        triggered_at=NOW - timedelta(days=60),
        alert_rule=old_resolved.alert_rule,
    )
    return {
        "old_checks": old_checks,
        "fresh_checks": fresh_checks,
        "old_metric": old_metric,
        "fresh_metric": fresh_metric,
        "retired": retired,
        "active": active,
        "old_resolved": old_resolved,
        "fresh_resolved": fresh_resolved,
        "old_open": old_open,
    }


def test_it_deletes_what_outlived_its_retention_and_keeps_the_rest(
    aged: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="metrics_app.retention")

    result = clean_up(NOW)

    assert (result.health_checks, result.metrics, result.baselines) == (7, 1, 1)
    assert result.incidents == 1
    assert result.finished
    assert set(HealthCheck.objects.values_list("pk", flat=True)) == {
        c.pk for c in aged["fresh_checks"]
    }
    assert list(Metric.objects.values_list("pk", flat=True)) == [
        aged["fresh_metric"].pk
    ]
    assert list(Baseline.objects.values_list("pk", flat=True)) == [aged["active"].pk]
    assert set(Incident.objects.values_list("pk", flat=True)) == {
        aged["fresh_resolved"].pk,
        aged["old_open"].pk,
    }
    assert "deleted 7 health checks older than 30 days" in caplog.text
    assert "10 rows in" in caplog.text


def test_it_honours_configured_days(aged: dict[str, Any]) -> None:
    configure("health_check_retention_days", 60)
    configure("metrics_retention_days", 7)

    result = clean_up(NOW)

    assert (result.health_checks, result.metrics) == (0, 2)
    assert HealthCheck.objects.count() == 9


def test_it_deletes_in_bounded_batches(aged: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as queries:
        result = clean_up(NOW, batch=3)

    assert result.health_checks == 7
    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if "DELETE FROM integration_health_checks" in q["sql"]
    ]
    # 3 + 3 + 1: the short batch shows nothing is left.
    assert len(deletes) == 3
    assert all("LIMIT 3" in sql for sql in deletes)


def test_it_stops_at_its_time_budget(
    aged: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    result = clean_up(NOW, batch=3, budget=0.0)

    assert not result.finished
    assert result.total == 0
    assert HealthCheck.objects.count() == 9
    assert "stopped at its time budget" in caplog.text


def test_running_it_again_deletes_nothing_more(aged: dict[str, Any]) -> None:
    clean_up(NOW)

    assert clean_up(NOW).total == 0


def test_batches_get_through_many_rows_sharing_one_date() -> None:
    service = IntegrationFactory()
    for hour in range(5):
        MetricFactory(
            integration=service, metric_date=date(2026, 8, 1), metric_hour=hour
        )

    assert clean_up(NOW, batch=2).metrics == 5

    assert not Metric.objects.exists()
