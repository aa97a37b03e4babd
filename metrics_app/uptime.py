"""Uptime, checks, incidents and response times of one integration over a window."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from metrics_app.aggregation import HOUR, MAX_RESPONSE_TIME_MS, hour_start

WINDOWS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}

# The hours the aggregation job still rewrites (the current one and, for late
# results, the previous one) are read from the raw checks and their hourly
# rows are skipped, so nothing is counted twice and the answer is fresh.
RAW_HOURS = 2

_SUMMARY_SQL = """
WITH hourly AS (
    SELECT
        total_checks AS total,
        successful_checks AS passed,
        response_time_samples AS timed,
        response_time_sum_ms AS timed_sum,
        p95_response_time_ms AS p95
    FROM integration_metrics
    WHERE integration_id = %(integration)s
        AND metric_date BETWEEN %(since_date)s AND %(raw_date)s
        AND metric_date + metric_hour * interval '1 hour' >= %(since_utc)s
        AND metric_date + metric_hour * interval '1 hour' < %(raw_utc)s
),
raw AS (
    SELECT
        count(*) AS total,
        count(*) FILTER (WHERE is_successful) AS passed,
        count(rt) AS timed,
        sum(rt) AS timed_sum,
        percentile_disc(0.95) WITHIN GROUP (ORDER BY rt) AS p95
    FROM (
        SELECT
            date_trunc('hour', check_timestamp AT TIME ZONE 'UTC') AS hour,
            is_successful,
            CASE WHEN response_time_ms BETWEEN 0 AND %(max_ms)s
                THEN response_time_ms END AS rt
        FROM integration_health_checks
        WHERE integration_id = %(integration)s
            AND check_timestamp >= %(raw_start)s
            AND check_timestamp < %(until)s
    ) checks
    GROUP BY hour
),
hours AS (
    SELECT * FROM hourly
    UNION ALL
    SELECT * FROM raw
),
ranked AS (
    SELECT
        p95,
        sum(timed) OVER (ORDER BY p95 ROWS UNBOUNDED PRECEDING) AS running,
        sum(timed) OVER () AS timed_total
    FROM hours
    WHERE timed > 0
)
SELECT
    (SELECT coalesce(sum(total), 0) FROM hours),
    (SELECT coalesce(sum(passed), 0) FROM hours),
    (SELECT sum(timed) FROM hours),
    (SELECT sum(timed_sum) FROM hours),
    (SELECT min(p95) FROM ranked WHERE running >= 0.95 * timed_total),
    (
        SELECT count(*) FROM alert_incidents
        WHERE integration_id = %(integration)s
            AND triggered_at >= %(since)s
            AND triggered_at < %(until)s
    )
"""


def window_bounds(
    window: str, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """Return (since, until) of a window: whole UTC hours up to now.

    "24h" runs from the start of the UTC hour 23 hours before the current one
    to now: 23 whole hours and the current one so far, never longer than its
    name. Hour-aligned, so older hours come from hourly rows alone.
    """
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    until = now or timezone.now()
    since = hour_start(until) - (WINDOWS[window] - 1) * HOUR
    return since, until


def uptime_summary(
    integration_id: uuid.UUID | str, window: str, now: datetime | None = None
) -> dict[str, Any]:
    """Summarise one integration over a window, in one query.

    Counts, uptime and the mean response time are exact. The p95 is the
    95th percentile of the hourly p95s weighted by each hour's timed checks:
    exact for one hour, and for longer windows the only figure hourly rows
    can give without keeping every response time.
    """
    integration = uuid.UUID(str(integration_id))  # ValueError for a malformed id
    since, until = window_bounds(window, now)
    raw_start = max(since, hour_start(until) - (RAW_HOURS - 1) * HOUR)
    params: dict[str, Any] = {
        "integration": integration,
        "since": since,
        "until": until,
        "raw_start": raw_start,
        "since_date": since.date(),
        "raw_date": raw_start.date(),
        # Hourly rows are keyed by UTC date and hour, without a zone.
        "since_utc": since.replace(tzinfo=None),
        "raw_utc": raw_start.replace(tzinfo=None),
        "max_ms": MAX_RESPONSE_TIME_MS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARY_SQL, params)
        row = cursor.fetchone()
    # sum() over integers answers numeric; the figures are whole numbers.
    total, passed, timed, timed_sum = (int(n or 0) for n in row[:4])
    p95, incidents = row[4], row[5]

    return {
        "window": window,
        "since": since,
        "until": until,
        "uptime_percentage": round(100 * passed / total, 2) if total else None,
        "total_checks": total,
        "incident_count": int(incidents),
        "avg_response_time_ms": round(timed_sum / timed, 2) if timed else None,
        "p95_response_time_ms": None if p95 is None else int(p95),
    }
