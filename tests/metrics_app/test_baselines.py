from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from metrics_app.aggregation import aggregate_hours
from metrics_app.baselines import compute_baselines, period
from metrics_app.models import Baseline
from tests.integrations_app.factories import IntegrationFactory
from tests.metrics_app.factories import (
    BaselineFactory,
    MetricFactory,
    checks,
    failed,
    ok,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 1, tzinfo=UTC)  # the last day of the period


def known_series(service: Any, hours: int = 24, per_hour: int = 5) -> list[int]:
    """Store `per_hour` checks of 100..500 ms each hour of DAY, the 500 ms one
    failing with a 503 in even hours; return every response time."""
    times = []
    for hour in range(hours):
        rows = [ok(100 * (i + 1)) for i in range(per_hour)]
        if hour % 2 == 0:
            rows[-1] = failed(503, 100 * per_hour)
        checks(service, DAY + timedelta(hours=hour, minutes=1), *rows, step=60)
        times += [100 * (i + 1) for i in range(per_hour)]
    aggregate_hours(DAY, DAY + timedelta(hours=hours))
    return times


def test_the_period_is_the_thirty_whole_days_before_today() -> None:
    assert period(NOW) == (date(2026, 10, 3), date(2026, 11, 1))


def test_it_computes_a_baseline_from_a_known_series() -> None:
    service = IntegrationFactory()
    times = known_series(service)

    run = compute_baselines(NOW)

    assert (run.written, run.too_few) == (1, 0)
    baseline = Baseline.objects.get(integration=service, is_active=True)
    assert baseline.baseline_type == "rolling_30d"
    assert (baseline.baseline_start_date, baseline.baseline_end_date) == (
        date(2026, 10, 3),
        date(2026, 11, 1),
    )
    # 24 copies of 100..500: mean 300; sample deviation sqrt(20000 * 120 / 119).
    assert baseline.baseline_response_time_ms == Decimal("300.00")
    assert statistics.stdev(times) == pytest.approx(142.01, abs=0.005)
    assert baseline.response_time_std_dev == Decimal("142.01")
    # 12 failures of 120 checks, all of them errors.
    assert baseline.baseline_uptime_percentage == Decimal("90.00")
    assert baseline.baseline_error_rate == Decimal("10.00")
    # Hourly uptime 80 and 100, twelve of each: sqrt(24 * 100 / 23) = 10.215.
    assert baseline.uptime_std_dev == Decimal("10.22")
    assert baseline.baseline_requests_per_hour == Decimal("5.00")
    assert baseline.sample_size == 120
    # 24 of the period's 720 hours had checks.
    assert baseline.confidence_level == Decimal("3.33")


def test_hours_outside_the_period_do_not_count() -> None:
    service = IntegrationFactory()
    known_series(service)
    # Today and the day before the period start.
    for day in (date(2026, 11, 2), date(2026, 10, 2)):
        MetricFactory(
            integration=service,
            metric_date=day,
            metric_hour=1,
            total_checks=1000,
            successful_checks=0,
            response_time_samples=1000,
            response_time_sum_ms=9_000_000,
            response_time_sum_squares=9e10,
        )

    compute_baselines(NOW)

    baseline = Baseline.objects.get(integration=service)
    assert baseline.sample_size == 120
    assert baseline.baseline_response_time_ms == Decimal("300.00")


@pytest.mark.parametrize(
    ("hours", "per_hour"),
    [
        (23, 5),  # 115 timed checks but 23 hours
        (24, 4),  # 24 hours but 96 timed checks
    ],
)
def test_an_integration_with_too_few_samples_keeps_none(
    hours: int, per_hour: int, caplog: pytest.LogCaptureFixture
) -> None:
    sparse = IntegrationFactory()
    known_series(sparse, hours=hours, per_hour=per_hour)
    old = BaselineFactory(integration=sparse, baseline_start_date=date(2026, 10, 2))
    caplog.set_level("INFO", logger="metrics_app.baselines")

    run = compute_baselines(NOW)

    assert (run.written, run.too_few, run.retired) == (0, 1, 1)
    assert not Baseline.objects.filter(integration=sparse, is_active=True).exists()
    old.refresh_from_db()
    assert old.is_active is False
    assert "1 integrations with too few samples" in caplog.text


def test_a_new_baseline_replaces_the_previous_active_one() -> None:
    service = IntegrationFactory()
    known_series(service)
    old = BaselineFactory(integration=service, baseline_start_date=date(2026, 10, 2))

    run = compute_baselines(NOW)

    assert run.retired == 1
    old.refresh_from_db()
    assert old.is_active is False
    active = Baseline.objects.get(integration=service, is_active=True)
    assert active.baseline_start_date == date(2026, 10, 3)


def test_running_twice_a_day_updates_the_same_row() -> None:
    service = IntegrationFactory()
    known_series(service)
    compute_baselines(NOW)
    first = Baseline.objects.get(integration=service)

    run = compute_baselines(NOW + timedelta(hours=5))

    assert (run.written, run.retired) == (1, 0)
    again = Baseline.objects.get(integration=service)
    assert again.id == first.id
    assert again.is_active is True
    assert again.baseline_response_time_ms == first.baseline_response_time_ms


def test_corrupt_sums_of_one_integration_do_not_spoil_the_others() -> None:
    corrupt, sound = IntegrationFactory(), IntegrationFactory()
    known_series(sound)
    for hour in range(24):
        MetricFactory(
            integration=corrupt,
            metric_date=date(2026, 11, 1),
            metric_hour=hour,
            total_checks=10,
            successful_checks=10,
            response_time_samples=10,
            response_time_sum_ms=1000,
            response_time_sum_squares=float("nan") if hour else float("inf"),
        )

    assert compute_baselines(NOW).written == 2

    assert Baseline.objects.get(integration=sound).response_time_std_dev == Decimal(
        "142.01"
    )
    bad = Baseline.objects.get(integration=corrupt)
    assert bad.baseline_response_time_ms == Decimal("100.00")
    assert bad.response_time_std_dev == Decimal("999999.99")
