"""Metrics at scale: 10,000 integrations checked once a minute for a day.

Generates the checks (14.4 million rows at full size) and 30 days of hourly
rows in SQL inside a scratch database, then times one hourly aggregation run,
a full-day backfill, a 30-day baseline run, 24-hour and 30-day uptime
queries for one integration and one day of retention clean-up.

BENCH_INTEGRATIONS scales it (default 10000; 100 runs in seconds).
BENCH_KEEP_DB=1 keeps the scratch database; BENCH_EXPLAIN=1 prints the plan
of the hourly run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from monitor_project import access

CHECKS_PER_DAY = 24 * 60
HOUR = timedelta(hours=1)
UPTIME_REPEATS = 25

# Ids are built from row numbers so that the primary key grows in order, as
# random ids spread over a day would not make a difference to what is timed.
_INTEGRATIONS_SQL = """
INSERT INTO integrations (id, name, display_name, service_type, auth_type, base_url)
SELECT ('b' || lpad(to_hex(i), 31, '0'))::uuid, 'bench_' || i, 'Bench ' || i,
    'api', 'none', 'https://bench' || i || '.example.com'
FROM generate_series(1, %(n)s) AS i
"""

# One check a minute per integration, integration i at second i mod 60, stored
# in time order as a check engine would; about 1% answer 503 and 0.5% time
# out; times come from a hash, so reruns agree.
_CHECKS_SQL = """
INSERT INTO integration_health_checks (
    id, integration_id, check_timestamp, response_time_ms, status_code,
    is_successful, health_status, error_kind, error_message, check_type,
    created_at
)
SELECT
    lpad(to_hex(k), 32, '0')::uuid,
    ('b' || lpad(to_hex(i), 31, '0'))::uuid,
    ts,
    CASE WHEN r < 5 THEN NULL ELSE 40 + abs(hashint8(k + 7919)) %% 400
        + CASE WHEN r > 990 THEN 3000 ELSE 0 END END,
    CASE WHEN r < 5 THEN NULL WHEN r < 15 THEN 503 ELSE 200 END,
    r >= 15,
    CASE WHEN r < 15 THEN 'critical' ELSE 'healthy' END,
    CASE WHEN r < 5 THEN 'timeout' END,
    CASE WHEN r < 5 THEN 'timed out after 10 s'
        WHEN r < 15 THEN 'unexpected status 503' END,
    'automated',
    ts
FROM generate_series(0, %(minutes)s * 60 - 1) AS second
CROSS JOIN generate_series(0, %(n)s / 60) AS j
CROSS JOIN LATERAL (
    SELECT
        second::bigint * (%(n)s / 60 + 1) + j AS k,
        j * 60 + second %% 60 + 1 AS i,
        %(start)s + second * interval '1 second' AS ts
) AS row
CROSS JOIN LATERAL (SELECT abs(hashint8(k)) %% 1000 AS r) AS draw
WHERE i <= %(n)s
"""

# The 30 days before the checks, as hourly rows the baseline job reads, stored
# hour after hour as the rollup writes them.
_HISTORY_SQL = """
INSERT INTO integration_metrics (
    id, integration_id, metric_date, metric_hour, total_checks,
    successful_checks, failed_checks, avg_response_time_ms,
    min_response_time_ms, max_response_time_ms, p50_response_time_ms,
    p95_response_time_ms, p99_response_time_ms, response_time_samples,
    response_time_sum_ms, response_time_sum_squares, error_count,
    status_2xx_count, status_5xx_count, timeout_count, availability_score,
    performance_score, reliability_score, created_at
)
SELECT
    ('c' || lpad(to_hex(h::bigint * %(n)s + i), 31, '0'))::uuid,
    ('b' || lpad(to_hex(i), 31, '0'))::uuid,
    (hour AT TIME ZONE 'UTC')::date, extract(hour FROM hour AT TIME ZONE 'UTC'),
    60, 59, 1, 240, 40, 3400, 240, 420, 3300, 60, 14400, 4.2e6, 1, 59, 1, 0,
    0.9833, 0.99, 0.9833, hour
FROM generate_series(0, %(hours)s - 1) AS h
CROSS JOIN generate_series(1, %(n)s) AS i
CROSS JOIN LATERAL (SELECT %(first)s + h * interval '1 hour' AS hour) AS row
"""


def _timed(what: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = what()
    return time.perf_counter() - began, result


def _execute(sql: str, params: dict[str, Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _line(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<52} {seconds:>9.3f} s  {note}", flush=True)


def _bulk_load(table: str, sql: str, params: dict[str, Any]) -> int:
    """Insert with the table's plain indexes dropped, then build them again.

    Building an index once is far quicker than growing it row by row; the
    timings that follow run with every index in place.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(sql, params)
        rows = cursor.rowcount
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
    return rows


def _generate(n: int, start: datetime) -> None:
    print(f"generating {n:,} integrations x {CHECKS_PER_DAY:,} checks", flush=True)
    seconds, _ = _timed(lambda: _execute(_INTEGRATIONS_SQL, {"n": n}))
    _line("integrations", seconds)
    params = {"n": n, "minutes": CHECKS_PER_DAY, "start": start}
    # A bulk load of rows whose integrations are known to exist: skipping the
    # per-row foreign key triggers saves millions of lookups, not realism.
    _execute("SET session_replication_role = replica")
    seconds, rows = _timed(
        lambda: _bulk_load("integration_health_checks", _CHECKS_SQL, params)
    )
    _line(f"{rows:,} health checks, indexes built", seconds)
    history = {"n": n, "first": start - timedelta(days=30), "hours": 30 * 24}
    seconds, rows = _timed(
        lambda: _bulk_load("integration_metrics", _HISTORY_SQL, history)
    )
    _execute("SET session_replication_role = DEFAULT")
    _line(f"{rows:,} hourly rows of the 30 days before", seconds)
    # Autovacuum would long have passed over hours this old.
    seconds, _ = _timed(lambda: _execute("VACUUM ANALYZE integration_metrics"))
    _line("VACUUM ANALYZE of the hourly rows", seconds)
    seconds, _ = _timed(lambda: _execute("ANALYZE"))
    _line("ANALYZE", seconds)


def _explain(first: datetime, end: datetime) -> None:
    from metrics_app import aggregation

    params = aggregation._params(first, end)
    with transaction.atomic(), connection.cursor() as cursor:
        aggregation.tune(cursor)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + aggregation._ROLLUP_SQL, params)
        print("\n".join(row[0] for row in cursor.fetchall()), flush=True)
        transaction.set_rollback(True)


def _measure(n: int, start: datetime) -> None:
    from metrics_app.aggregation import aggregate_hours, aggregate_recent
    from metrics_app.baselines import compute_baselines
    from metrics_app.retention import clean_up
    from metrics_app.uptime import uptime_summary

    print("timings", flush=True)
    # The last two hours of the generated day, both full: 2 x 60 x n checks.
    now = start + 23 * HOUR + timedelta(minutes=30)
    if os.environ.get("BENCH_EXPLAIN") == "1":
        _explain(start + 22 * HOUR, start + 24 * HOUR)
    seconds, rollup = _timed(lambda: aggregate_recent(now))
    _line(
        f"hourly run, {rollup.inserted:,} rows from {2 * 60 * n:,} checks",
        seconds,
        "target < 5 s",
    )
    seconds, rollup = _timed(lambda: aggregate_recent(now))
    _line(f"same run again, {rollup.updated} rows changed", seconds)
    seconds, rollup = _timed(lambda: aggregate_hours(start, start + 24 * HOUR))
    _line(f"backfill of the whole day, {rollup.inserted:,} new rows", seconds)
    with access.as_owner():
        _execute("ANALYZE integration_metrics")

    day_after = start + 24 * HOUR
    seconds, run = _timed(lambda: compute_baselines(day_after + 3 * HOUR))
    _line(f"30-day baselines, {run.written:,} written", seconds, "target < 60 s")

    one = f"b{1:031x}"
    for window in ("24h", "30d"):
        times = []
        for _ in range(UPTIME_REPEATS):
            seconds, summary = _timed(
                lambda w=window: uptime_summary(one, w, now=day_after)
            )
            times.append(seconds * 1000)
        print(
            f"  uptime {window} for one integration ({summary['total_checks']:,} "
            f"checks): median {statistics.median(times):.2f} ms, "
            f"max {max(times):.2f} ms over {UPTIME_REPEATS} (target < 20 ms)",
            flush=True,
        )

    # A month later, the whole generated day is past its 30 days.
    seconds, result = _timed(lambda: clean_up(day_after + timedelta(days=30, hours=2)))
    _line(
        f"retention, one day: {result.health_checks:,} checks",
        seconds,
        f"{result.total / seconds:,.0f} rows/s",
    )


def run() -> None:
    n = int(os.environ.get("BENCH_INTEGRATIONS", "10000"))
    keep = os.environ.get("BENCH_KEEP_DB") == "1"
    settings = connection.settings_dict
    settings.setdefault("TEST", {})
    settings["TEST"]["NAME"] = f"{settings['NAME']}_bench_metrics_{n}"

    print(f"aggregation benchmark in {settings['TEST']['NAME']}", flush=True)
    original = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False
    )
    try:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start -= 24 * HOUR
        # Bulk loading, index rebuilds and ANALYZE need the owner of the tables.
        with access.as_owner():
            _generate(n, start)
        _measure(n, start)
    finally:
        if keep:
            print(f"kept {settings['NAME']}", flush=True)
            connection.close()
            settings["NAME"] = original
        else:
            connection.creation.destroy_test_db(original, verbosity=0)
