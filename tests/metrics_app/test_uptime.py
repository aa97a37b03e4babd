from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from metrics_app.aggregation import aggregate_hours
from metrics_app.uptime import uptime_summary, window_bounds
from tests.integrations_app.factories import IntegrationFactory
from tests.metrics_app.factories import (
    IncidentFactory,
    MetricFactory,
    checks,
    failed,
    ok,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 12, 20, tzinfo=UTC)


def hourly(service: Any, day: date, hour: int, **fields: Any) -> None:
    MetricFactory(integration=service, metric_date=day, metric_hour=hour, **fields)


@pytest.fixture
def service() -> Any:
    """An integration with hourly rows, raw checks and incidents around NOW."""
    service = IntegrationFactory()
    other = IntegrationFactory()
    nov1, nov2 = date(2026, 11, 1), date(2026, 11, 2)

    # One hour before the 24h window starts at 2026-11-01 13:00.
    hourly(service, nov1, 12, total_checks=100, successful_checks=0)
    hourly(
        service,
        nov1,
        13,
        total_checks=60,
        successful_checks=60,
        response_time_samples=60,
        response_time_sum_ms=6000,
        p95_response_time_ms=120,
    )
    hourly(
        service,
        nov2,
        10,
        total_checks=60,
        successful_checks=54,
        response_time_samples=58,
        response_time_sum_ms=11600,
        p95_response_time_ms=400,
    )
    # Stale: 11:00 is still being rewritten, so its raw checks count instead.
    hourly(service, nov2, 11, total_checks=30, successful_checks=0)
    # Older than 24h, inside 7 days; no timed checks.
    hourly(service, date(2026, 10, 28), 5, total_checks=10, successful_checks=10)
    hourly(other, nov2, 10, total_checks=99, successful_checks=0)

    # Already inside the 10:00 hourly row.
    checks(service, datetime(2026, 11, 2, 10, 30, tzinfo=UTC), failed(500, 9))
    checks(
        service,
        datetime(2026, 11, 2, 11, 10, tzinfo=UTC),
        ok(100),
        ok(300),
        failed(None, None, "timeout"),
    )
    checks(service, datetime(2026, 11, 2, 12, 5, tzinfo=UTC), ok(500))
    # After NOW.
    checks(service, datetime(2026, 11, 2, 12, 30, tzinfo=UTC), failed(503, 1))
    checks(other, datetime(2026, 11, 2, 12, 5, tzinfo=UTC), failed(503, 1))

    for at in (
        datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 12, 10, tzinfo=UTC),
        datetime(2026, 10, 30, 8, 0, tzinfo=UTC),  # only in 7d
        datetime(2026, 11, 1, 12, 59, tzinfo=UTC),  # only in 7d
    ):
        IncidentFactory(integration=service, triggered_at=at)
    IncidentFactory(integration=other, triggered_at=NOW - timedelta(hours=1))
    return service


def test_the_24h_window_joins_hourly_rows_and_fresh_checks(service: Any) -> None:
    summary = uptime_summary(service.id, "24h", now=NOW)

    assert summary == {
        "window": "24h",
        "since": datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        "until": NOW,
        # 60 + 60 hourly, 3 + 1 raw; 60 + 54 + 2 + 1 passed.
        "total_checks": 124,
        "uptime_percentage": 94.35,
        # (6000 + 11600 + 400 + 500) / (60 + 58 + 2 + 1)
        "avg_response_time_ms": 152.89,
        # Hourly p95s by weight: 120 x60, 300 x2, 400 x58, 500 x1; 95% of 121
        # checks is reached at 400.
        "p95_response_time_ms": 400,
        "incident_count": 2,
    }


def test_the_7d_window_reaches_older_hours(service: Any) -> None:
    summary = uptime_summary(str(service.id), "7d", now=NOW)

    assert summary["since"] == datetime(2026, 10, 26, 13, 0, tzinfo=UTC)
    # The 24h figures plus the rows of 11-01 12:00 (100, none passed) and
    # 10-28 05:00 (10, all passed).
    assert summary["total_checks"] == 234
    assert summary["uptime_percentage"] == 54.27
    assert summary["avg_response_time_ms"] == 152.89
    assert summary["p95_response_time_ms"] == 400
    assert summary["incident_count"] == 4


def test_an_integration_without_data_has_no_uptime() -> None:
    quiet = IntegrationFactory()

    summary = uptime_summary(quiet.id, "30d", now=NOW)

    assert summary["total_checks"] == 0
    assert summary["incident_count"] == 0
    assert summary["uptime_percentage"] is None
    assert summary["avg_response_time_ms"] is None
    assert summary["p95_response_time_ms"] is None


def test_aggregated_hours_are_not_counted_twice() -> None:
    service = IntegrationFactory()
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for hour in range(4):
        checks(
            service,
            start + timedelta(hours=hour, minutes=1),
            ok(100 * (hour + 1)),
            ok(100 * (hour + 1)),
            failed(500, 10),
            step=60,
        )
    # Every hour rolled up, the current and previous ones included.
    aggregate_hours(start, start + timedelta(hours=4))

    summary = uptime_summary(
        service.id, "24h", now=start + timedelta(hours=3, minutes=30)
    )

    assert summary["total_checks"] == 12
    assert summary["uptime_percentage"] == 66.67
    # (200 + 400 + 600 + 800 + 4 * 10) / 12
    assert summary["avg_response_time_ms"] == 170.0


@pytest.mark.parametrize(
    ("window", "since"),
    [
        ("24h", datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
        ("7d", datetime(2026, 10, 26, 13, 0, tzinfo=UTC)),
        ("30d", datetime(2026, 10, 3, 13, 0, tzinfo=UTC)),
    ],
)
def test_windows_are_whole_hours_up_to_now(window: str, since: datetime) -> None:
    assert window_bounds(window, NOW) == (since, NOW)


@pytest.mark.parametrize("window", ["", "1h", "24H", "90d", "7 d"])
def test_it_refuses_an_unknown_window(window: str) -> None:
    with pytest.raises(ValueError, match="window must be one of 24h, 7d, 30d"):
        uptime_summary(IntegrationFactory().id, window, now=NOW)


@pytest.mark.parametrize("integration_id", ["", "42", "not-a-uuid", "1' OR '1'='1"])
def test_it_refuses_a_malformed_integration_id(integration_id: str) -> None:
    with pytest.raises(ValueError):
        uptime_summary(integration_id, "24h", now=NOW)
