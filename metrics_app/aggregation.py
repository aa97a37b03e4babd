"""Hourly rollups of health checks into integration_metrics, in one SQL statement."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from metrics_app import scores

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)

# A response time outside this range is bad data (a clock jump, a negative
# duration, an overflow upstream): it is left out of the timings instead of
# failing the statement for every integration. The bound is the largest value
# the DECIMAL(8,2) average column can hold.
MAX_RESPONSE_TIME_MS = 999_999

# Sorting an hour of every integration's checks for the percentiles spills to
# disk with PostgreSQL's default work_mem; this keeps it in memory for one
# transaction only. JIT is off for the same transaction: the statement's high
# cost estimate makes PostgreSQL compile it, which took longer than it saved.
WORK_MEM = "256MB"

# The metric columns the statement writes, in the order of its SELECT list.
_COLUMNS = [
    "total_checks",
    "successful_checks",
    "failed_checks",
    "avg_response_time_ms",
    "min_response_time_ms",
    "max_response_time_ms",
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
    "response_time_samples",
    "response_time_sum_ms",
    "response_time_sum_squares",
    "error_count",
    "status_2xx_count",
    "status_3xx_count",
    "status_4xx_count",
    "status_5xx_count",
    "timeout_count",
    "availability_score",
    "performance_score",
    "reliability_score",
]

# The table names are constants; the bounds go in as parameters.
_ROLLUP_SQL = f"""
WITH checks AS (
    SELECT
        h.integration_id,
        -- Which hour, found by comparing against the hour starts: per row it
        -- is far cheaper than truncating in a time zone.
        width_bucket(h.check_timestamp, %(hours)s::timestamptz[]) AS hour,
        h.is_successful,
        h.status_code,
        {scores.IS_ERROR} AS is_error,
        {scores.IS_TIMEOUT} AS is_timeout,
        CASE WHEN h.response_time_ms BETWEEN 0 AND %(max_ms)s
            THEN h.response_time_ms END AS rt,
        {scores.slow_threshold_sql("b.baseline_response_time_ms")} AS slow_ms
    FROM integration_health_checks h
    LEFT JOIN integration_baselines b
        ON b.integration_id = h.integration_id
        AND b.is_active
        AND b.baseline_type = 'rolling_30d'
    WHERE h.check_timestamp >= %(start)s AND h.check_timestamp < %(end)s
),
hours AS (
    SELECT
        integration_id,
        hour,
        count(*) AS total_checks,
        count(*) FILTER (WHERE is_successful) AS successful_checks,
        count(*) FILTER (WHERE NOT is_successful) AS failed_checks,
        round(avg(rt), 2) AS avg_rt,
        min(rt) AS min_rt,
        max(rt) AS max_rt,
        percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY rt) AS pct,
        count(rt) AS timed,
        sum(rt) AS rt_sum,
        sum(rt::float8 * rt) AS rt_sum_squares,
        count(*) FILTER (WHERE is_error) AS error_count,
        count(*) FILTER (WHERE status_code BETWEEN 200 AND 299) AS s2xx,
        count(*) FILTER (WHERE status_code BETWEEN 300 AND 399) AS s3xx,
        count(*) FILTER (WHERE status_code BETWEEN 400 AND 499) AS s4xx,
        count(*) FILTER (WHERE status_code BETWEEN 500 AND 599) AS s5xx,
        count(*) FILTER (WHERE is_timeout) AS timeouts,
        count(*) FILTER (WHERE rt <= slow_ms) AS fast
    FROM checks
    GROUP BY integration_id, hour
)
INSERT INTO integration_metrics (
    id, integration_id, metric_date, metric_hour, time_window_minutes,
    {", ".join(_COLUMNS)}, created_at
)
SELECT
    gen_random_uuid(), integration_id, utc_hour::date,
    extract(hour FROM utc_hour)::integer, 60,
    total_checks, successful_checks, failed_checks,
    avg_rt, min_rt, max_rt, pct[1], pct[2], pct[3],
    timed, rt_sum, rt_sum_squares,
    error_count, s2xx, s3xx, s4xx, s5xx, timeouts,
    {scores.AVAILABILITY}, {scores.PERFORMANCE}, {scores.RELIABILITY},
    now()
FROM hours
CROSS JOIN LATERAL (
    SELECT (%(hours)s::timestamptz[])[hour] AT TIME ZONE 'UTC' AS utc_hour
) AS bounds
ON CONFLICT (integration_id, metric_date, metric_hour) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS)}
WHERE ({", ".join(f"integration_metrics.{c}" for c in _COLUMNS)})
    IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _COLUMNS)})
RETURNING (xmax = 0) AS inserted
"""  # noqa: S608


@dataclass(frozen=True)
class Rollup:
    start: datetime
    end: datetime
    inserted: int
    updated: int
    seconds: float


def hour_start(moment: datetime) -> datetime:
    """Return the start of the UTC hour that holds the moment."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def tune(cursor: CursorWrapper) -> None:
    """Set the rollup's memory and JIT for the current transaction only."""
    cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
    cursor.execute("SELECT set_config('jit', 'off', true)")


def _params(start: datetime, end: datetime) -> dict[str, Any]:
    hours = [start + i * HOUR for i in range(int((end - start) / HOUR) + 1)]
    return {"start": start, "end": end, "hours": hours, "max_ms": MAX_RESPONSE_TIME_MS}


def aggregate_hours(start: datetime, end: datetime) -> Rollup:
    """Roll up the checks of every whole UTC hour in [start, end) into metric rows.

    One INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE statement does
    it for every integration at once. The percentiles use percentile_disc: it
    answers with a response time that was actually observed, so the integer
    columns hold it as is, with no interpolation between two checks to round
    away, and a p99 never shows a value no check ever took. A row is rewritten
    only when a figure changed, so running it again for the same hour leaves
    identical rows and writes nothing.
    """
    start, end = hour_start(start), hour_start(end)
    if end <= start:
        raise ValueError("end must be at least one hour after start")

    began = time.monotonic()
    params = _params(start, end)
    with transaction.atomic(), connection.cursor() as cursor:
        tune(cursor)
        cursor.execute(_ROLLUP_SQL, params)
        flags = [row[0] for row in cursor.fetchall()]

    inserted = sum(flags)
    return Rollup(
        start=start,
        end=end,
        inserted=inserted,
        updated=len(flags) - inserted,
        seconds=time.monotonic() - began,
    )


def aggregate_recent(now: datetime | None = None) -> Rollup:
    """Roll up the current and the previous hour, so late results still count."""
    current = hour_start(now or timezone.now())
    rollup = aggregate_hours(current - HOUR, current + HOUR)
    logger.info(
        "aggregated hours %s to %s: %d rows inserted, %d updated in %.2fs",
        rollup.start.isoformat(),
        rollup.end.isoformat(),
        rollup.inserted,
        rollup.updated,
        rollup.seconds,
    )
    return rollup
