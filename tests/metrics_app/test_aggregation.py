from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from metrics_app.aggregation import aggregate_hours, aggregate_recent
from metrics_app.models import Metric
from tests.integrations_app.factories import IntegrationFactory
from tests.metrics_app.factories import BaselineFactory, checks, failed, ok

pytestmark = pytest.mark.django_db

TEN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def row(integration: Any, day: date, hour: int) -> Metric:
    return Metric.objects.get(
        integration=integration, metric_date=day, metric_hour=hour
    )


def test_it_rolls_up_counts_timings_and_scores_of_a_known_hour() -> None:
    service = IntegrationFactory()
    checks(
        service,
        TEN + timedelta(minutes=1),
        ok(100),
        ok(200),
        ok(300),
        ok(400),
        ok(500),
        ok(600),
        ok(700, status_code=301),
        ok(6000),
        failed(404, 30),
        failed(503, 50),
        failed(None, None, "timeout"),
        failed(None, None, "refused"),
        step=60,
    )

    rollup = aggregate_recent(TEN + timedelta(minutes=30))

    assert (rollup.inserted, rollup.updated) == (1, 0)
    metric = row(service, date(2026, 11, 2), 10)
    assert (metric.total_checks, metric.successful_checks, metric.failed_checks) == (
        12,
        8,
        4,
    )
    # Timed checks, sorted: 30 50 100 200 300 400 500 600 700 6000.
    assert metric.avg_response_time_ms == Decimal("888.00")
    assert (metric.min_response_time_ms, metric.max_response_time_ms) == (30, 6000)
    assert metric.p50_response_time_ms == 300
    assert metric.p95_response_time_ms == 6000
    assert metric.p99_response_time_ms == 6000
    assert metric.response_time_samples == 10
    assert metric.response_time_sum_ms == 8880
    assert metric.response_time_sum_squares == 37_403_400
    # The 503, the timeout and the refused connection; the 404 is an answer.
    assert metric.error_count == 3
    assert metric.timeout_count == 1
    counts = (
        metric.status_2xx_count,
        metric.status_3xx_count,
        metric.status_4xx_count,
        metric.status_5xx_count,
    )
    assert counts == (7, 1, 1, 1)
    assert metric.availability_score == Decimal("0.6667")
    # Nine of ten timed checks within 5 s, there being no baseline.
    assert metric.performance_score == Decimal("0.9000")
    assert metric.reliability_score == Decimal("0.7500")
    assert metric.uptime_percentage == Decimal("66.67")
    assert metric.error_rate == Decimal("25.00")


def test_its_percentiles_are_observed_values_of_the_hour() -> None:
    service = IntegrationFactory()
    times = list(range(1, 101))
    random.Random(7).shuffle(times)
    checks(service, TEN, *[ok(ms) for ms in times], step=30)

    aggregate_hours(TEN, TEN + timedelta(hours=1))

    metric = row(service, date(2026, 11, 2), 10)
    assert metric.avg_response_time_ms == Decimal("50.50")
    percentiles = (
        metric.p50_response_time_ms,
        metric.p95_response_time_ms,
        metric.p99_response_time_ms,
    )
    assert percentiles == (50, 95, 99)


@pytest.mark.parametrize(
    ("at", "day", "hour"),
    [
        (datetime(2026, 11, 2, 10, 59, 59, 999999, tzinfo=UTC), date(2026, 11, 2), 10),
        (datetime(2026, 11, 2, 11, 0, tzinfo=UTC), date(2026, 11, 2), 11),
        (datetime(2026, 11, 2, 23, 59, 59, tzinfo=UTC), date(2026, 11, 2), 23),
        (datetime(2026, 11, 3, 0, 0, tzinfo=UTC), date(2026, 11, 3), 0),
        # 03:30 at UTC+5 is 22:30 UTC the day before.
        (
            datetime(2026, 11, 3, 3, 30, tzinfo=timezone(timedelta(hours=5))),
            date(2026, 11, 2),
            22,
        ),
    ],
)
def test_it_files_a_check_under_its_utc_date_and_hour(
    at: datetime, day: date, hour: int
) -> None:
    service = IntegrationFactory()
    checks(service, at, ok(120))

    aggregate_hours(at - timedelta(hours=1), at + timedelta(hours=1))

    assert list(
        Metric.objects.values_list("metric_date", "metric_hour", "total_checks")
    ) == [(day, hour, 1)]


def test_it_covers_the_current_and_previous_hour_only() -> None:
    service = IntegrationFactory()
    checks(service, TEN - timedelta(seconds=1), ok(100))  # 09:59:59, too old
    checks(service, TEN, ok(100), ok(100))  # previous hour
    checks(service, TEN + timedelta(hours=1, minutes=5), ok(100))  # current hour
    checks(service, TEN + timedelta(hours=2), ok(100))  # next hour, not yet

    aggregate_recent(TEN + timedelta(hours=1, minutes=10))

    rows = Metric.objects.order_by("metric_hour")
    assert [(m.metric_hour, m.total_checks) for m in rows] == [(10, 2), (11, 1)]


def test_an_integration_without_checks_gets_no_row() -> None:
    quiet, busy = IntegrationFactory(), IntegrationFactory()
    checks(busy, TEN, ok(100))

    aggregate_recent(TEN + timedelta(minutes=5))

    assert not Metric.objects.filter(integration=quiet).exists()
    assert Metric.objects.filter(integration=busy).count() == 1


def _snapshot() -> list[dict[str, Any]]:
    return list(Metric.objects.order_by("integration_id", "metric_hour").values())


def test_aggregating_an_hour_twice_leaves_identical_rows() -> None:
    first, second = IntegrationFactory(), IntegrationFactory()
    for service in (first, second):
        checks(service, TEN, ok(100), ok(250), failed(500, 40), step=600)
        checks(service, TEN + timedelta(hours=1), ok(90))
    now = TEN + timedelta(hours=1, minutes=20)

    aggregate_recent(now)
    before = _snapshot()
    again = aggregate_recent(now)

    assert (again.inserted, again.updated) == (0, 0)
    assert _snapshot() == before
    assert len(before) == 4


def test_a_late_result_updates_its_own_hour() -> None:
    service = IntegrationFactory()
    checks(service, TEN + timedelta(minutes=10), ok(100))
    now = TEN + timedelta(hours=1, minutes=1)
    aggregate_recent(now)

    # Stamped 10:59, stored after the 11:00 run.
    checks(service, TEN + timedelta(minutes=59), failed(None, None, "timeout"))
    rerun = aggregate_recent(now + timedelta(minutes=5))

    assert (rerun.inserted, rerun.updated) == (0, 1)
    metric = row(service, date(2026, 11, 2), 10)
    assert (metric.total_checks, metric.failed_checks, metric.timeout_count) == (
        2,
        1,
        1,
    )
    assert metric.uptime_percentage == Decimal("50.00")


def test_scores_when_every_check_timed_out() -> None:
    service = IntegrationFactory()
    checks(service, TEN, *[failed(None, None, "timeout")] * 4)

    aggregate_hours(TEN, TEN + timedelta(hours=1))

    metric = row(service, date(2026, 11, 2), 10)
    assert metric.availability_score == Decimal("0.0000")
    assert metric.reliability_score == Decimal("0.0000")
    # Nothing was timed, so there is no performance to score.
    assert metric.performance_score is None
    assert metric.avg_response_time_ms is None
    assert metric.p50_response_time_ms is None
    assert metric.p99_response_time_ms is None
    assert metric.response_time_samples == 0
    assert metric.response_time_sum_ms is None
    assert (metric.error_count, metric.timeout_count) == (4, 4)
    assert metric.uptime_percentage == Decimal("0.00")
    assert metric.error_rate == Decimal("100.00")


def test_scores_when_every_check_answered_with_a_client_error() -> None:
    service = IntegrationFactory()
    checks(service, TEN, failed(401, 80), failed(403, 90))

    aggregate_hours(TEN, TEN + timedelta(hours=1))

    metric = row(service, date(2026, 11, 2), 10)
    assert metric.availability_score == Decimal("0.0000")
    assert metric.reliability_score == Decimal("1.0000")
    assert metric.performance_score == Decimal("1.0000")
    assert metric.error_count == 0


@pytest.mark.parametrize(
    ("mean", "active", "expected"),
    [
        # Threshold twice the baseline mean of 200 ms: 300 and 400 are fast.
        (200, True, Decimal("0.5000")),
        # An inactive baseline does not count: all four are within 5 s.
        (200, False, Decimal("1.0000")),
        # Nor does one without a positive mean, as in the check engine.
        (0, True, Decimal("1.0000")),
        (None, True, Decimal("1.0000")),
    ],
)
def test_performance_is_measured_against_the_active_baseline(
    mean: int | None, active: bool, expected: Decimal
) -> None:
    service = IntegrationFactory()
    BaselineFactory(
        integration=service, baseline_response_time_ms=mean, is_active=active
    )
    checks(service, TEN, ok(300), ok(400), ok(401), ok(1000))

    aggregate_hours(TEN, TEN + timedelta(hours=1))

    assert row(service, date(2026, 11, 2), 10).performance_score == expected


def test_one_integrations_bad_data_does_not_spoil_the_others() -> None:
    broken, healthy = IntegrationFactory(), IntegrationFactory()
    checks(
        broken,
        TEN,
        ok(-5),
        ok(2_000_000_000),
        ok(100, status_code=0),
        ok(200, status_code=999),
    )
    checks(healthy, TEN, ok(100), ok(300))

    aggregate_hours(TEN, TEN + timedelta(hours=1))

    bad = row(broken, date(2026, 11, 2), 10)
    assert bad.total_checks == 4
    assert bad.response_time_samples == 2
    assert (bad.min_response_time_ms, bad.max_response_time_ms) == (100, 200)
    assert bad.status_2xx_count == 2
    good = row(healthy, date(2026, 11, 2), 10)
    assert good.avg_response_time_ms == Decimal("200.00")


def test_it_refuses_an_empty_span() -> None:
    with pytest.raises(ValueError, match="at least one hour"):
        aggregate_hours(TEN, TEN + timedelta(minutes=59))
