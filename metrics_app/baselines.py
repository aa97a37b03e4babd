"""Rolling 30-day baselines of every integration, computed from the hourly rows."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

KIND = "rolling_30d"
DAYS = 30

# Enough samples: at least this many timed checks, spread over at least this
# many hourly rows. Fewer, and one bad afternoon would set the slow threshold
# of the month; an integration below either keeps no active baseline.
MIN_TIMED_CHECKS = 100
MIN_HOURS = 24

# Largest value of the DECIMAL(8,2) columns; a deviation from corrupt sums
# (NaN, infinity) is held to it instead of failing every integration.
_MAX_MS = 999_999.99

_RETIRE_SQL = """
UPDATE integration_baselines SET is_active = false
WHERE is_active AND baseline_type = %(kind)s
RETURNING baseline_start_date
"""

_UPSERT_SQL = """
WITH hours AS (
    SELECT
        integration_id,
        count(*) AS hours,
        sum(total_checks) AS checks,
        sum(successful_checks) AS passed,
        sum(error_count) AS errors,
        sum(response_time_samples) AS timed,
        sum(response_time_sum_ms) AS timed_sum,
        sum(response_time_sum_squares) AS timed_squares,
        stddev_samp(uptime_percentage) AS uptime_sd
    FROM integration_metrics
    WHERE metric_date BETWEEN %(start)s AND %(end)s AND total_checks > 0
    GROUP BY integration_id
),
written AS (
INSERT INTO integration_baselines (
    id, integration_id, baseline_start_date, baseline_end_date, baseline_type,
    baseline_response_time_ms, baseline_uptime_percentage, baseline_error_rate,
    baseline_requests_per_hour, response_time_std_dev, uptime_std_dev,
    sample_size, confidence_level, is_active, last_calculated, created_at
)
SELECT
    gen_random_uuid(), integration_id, %(start)s, %(end)s, %(kind)s,
    least(round(timed_sum / timed, 2), %(max_ms)s),
    round(100.0 * passed / checks, 2),
    round(100.0 * errors / checks, 2),
    round(checks::numeric / hours, 2),
    round(least(
        sqrt(greatest(timed_squares - timed_sum::float8 * timed_sum / timed, 0)
            / (timed - 1)),
        %(max_ms)s
    )::numeric, 2),
    round(coalesce(uptime_sd, 0), 2),
    checks,
    round(least(100.0 * hours / %(period_hours)s, 100), 2),
    true, now(), now()
FROM hours
WHERE hours >= %(min_hours)s AND timed >= %(min_timed)s
ON CONFLICT (integration_id, baseline_type, baseline_start_date) DO UPDATE SET
    baseline_end_date = EXCLUDED.baseline_end_date,
    baseline_response_time_ms = EXCLUDED.baseline_response_time_ms,
    baseline_uptime_percentage = EXCLUDED.baseline_uptime_percentage,
    baseline_error_rate = EXCLUDED.baseline_error_rate,
    baseline_requests_per_hour = EXCLUDED.baseline_requests_per_hour,
    response_time_std_dev = EXCLUDED.response_time_std_dev,
    uptime_std_dev = EXCLUDED.uptime_std_dev,
    sample_size = EXCLUDED.sample_size,
    confidence_level = EXCLUDED.confidence_level,
    is_active = true,
    last_calculated = now()
RETURNING 1
)
SELECT (SELECT count(*) FROM hours), (SELECT count(*) FROM written)
"""


@dataclass(frozen=True)
class BaselineRun:
    start: date
    end: date
    written: int
    too_few: int
    retired: int
    seconds: float


def period(now: datetime | None = None) -> tuple[date, date]:
    """Return the first and last day of the 30 whole UTC days before today."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return today - timedelta(days=DAYS), today - timedelta(days=1)


def compute_baselines(now: datetime | None = None) -> BaselineRun:
    """Replace every integration's active rolling 30-day baseline in one transaction.

    The mean and deviation of response time come from the hourly count, sum
    and sum of squares, so they equal those of the individual checks. The
    uptime deviation is that of the hourly uptime percentages. Checks per hour
    are per hour with checks; the confidence level is the share of the
    period's 720 hours that had any. Readers see the old baselines until the
    new ones commit.
    """
    began = time.monotonic()
    start, end = period(now)
    params: dict[str, Any] = {
        "kind": KIND,
        "start": start,
        "end": end,
        "min_hours": MIN_HOURS,
        "min_timed": MIN_TIMED_CHECKS,
        "max_ms": _MAX_MS,
        "period_hours": DAYS * 24,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # Compiling the statement costs more than it saves on this one scan.
        cursor.execute("SELECT set_config('jit', 'off', true)")
        cursor.execute(_RETIRE_SQL, params)
        retired = sum(1 for (begun,) in cursor.fetchall() if begun != start)
        cursor.execute(_UPSERT_SQL, params)
        measured, written = cursor.fetchone()

    run = BaselineRun(
        start=start,
        end=end,
        written=written,
        too_few=measured - written,
        retired=retired,
        seconds=time.monotonic() - began,
    )
    logger.info(
        "baselines %s to %s: %d written, %d integrations with too few samples "
        "(under %d timed checks or %d hours) keep none, %d older retired in %.2fs",
        run.start,
        run.end,
        run.written,
        run.too_few,
        MIN_TIMED_CHECKS,
        MIN_HOURS,
        run.retired,
        run.seconds,
    )
    return run
