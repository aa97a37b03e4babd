"""REST API latency over HTTP, against uvicorn, with concurrent clients.

Fills a scratch database with 10,000 integrations, 30 days of hourly metrics
(7.2 million rows at full size) and 200 open incidents, starts the ASGI app
under uvicorn and times, from several client threads with keep-alive
connections: the first page of /api/integrations/, a filtered search, the
dashboard and one integration's metrics for 7 days. Prints p50 and p95 per
endpoint (target: p95 under 100 ms each).

BENCH_API_INTEGRATIONS scales it (default 10000; 200 runs in seconds),
BENCH_API_CLIENTS sets the client threads (default 8), BENCH_API_REQUESTS the
requests per endpoint (default 400), BENCH_API_WORKERS the uvicorn workers
(default 2). The scratch database is kept and reused while its size matches.
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from monitor_project import access

DAYS = 30
INCIDENTS = 200

_INTEGRATIONS_SQL = """
INSERT INTO integrations (
    id, name, display_name, description, service_type, category, auth_type,
    base_url, health_check_endpoint, is_critical, current_health_status,
    consecutive_failures, last_health_check
)
SELECT ('a' || lpad(to_hex(i), 31, '0'))::uuid, 'bench_' || i, 'Bench ' || i,
    'Benchmark service number ' || i,
    (ARRAY['api', 'database', 'messaging', 'storage', 'auth', 'payment'])[1 + i %% 6],
    (ARRAY['external', 'internal', 'infrastructure'])[1 + i %% 3],
    'none', 'https://bench' || i || '.example.com', '/health', i %% 10 = 0,
    CASE WHEN i %% 50 = 0 THEN 'critical' WHEN i %% 20 = 0 THEN 'warning'
        WHEN i %% 97 = 0 THEN 'unknown' ELSE 'healthy' END,
    CASE WHEN i %% 50 = 0 THEN 4 ELSE 0 END,
    now()
FROM generate_series(1, %(n)s) AS i
"""

_METRICS_SQL = """
INSERT INTO integration_metrics (
    id, integration_id, metric_date, metric_hour, total_checks,
    successful_checks, failed_checks, error_count, avg_response_time_ms,
    min_response_time_ms, max_response_time_ms, p50_response_time_ms,
    p95_response_time_ms, p99_response_time_ms, response_time_samples,
    response_time_sum_ms, status_2xx_count, status_5xx_count, created_at
)
SELECT
    ('d' || lpad(to_hex(i::bigint * 100000 + h), 31, '0'))::uuid,
    ('a' || lpad(to_hex(i), 31, '0'))::uuid,
    (hour AT TIME ZONE 'UTC')::date, extract(hour FROM hour AT TIME ZONE 'UTC'),
    12, 12 - (i + h) %% 2, (i + h) %% 2, (i + h) %% 2, 180, 40, 900, 170, 420,
    800, 12, 2160, 12 - (i + h) %% 2, (i + h) %% 2, hour
FROM generate_series(1, %(n)s) AS i
CROSS JOIN generate_series(0, %(hours)s - 1) AS h
CROSS JOIN LATERAL (SELECT %(first)s + h * interval '1 hour' AS hour) AS row
"""

_RULES_SQL = """
INSERT INTO alert_rules (
    id, integration_id, rule_name, alert_type, condition_metric,
    condition_operator, condition_threshold, severity, notification_recipients
)
SELECT ('e' || lpad(to_hex(i), 31, '0'))::uuid,
    ('a' || lpad(to_hex(i * 7), 31, '0'))::uuid, 'bench rule ' || i,
    'availability', 'consecutive_failures', '>', 2,
    (ARRAY['info', 'warning', 'critical', 'urgent'])[1 + i %% 4],
    ARRAY['oncall@example.com']
FROM generate_series(1, %(incidents)s) AS i
"""

_INCIDENTS_SQL = """
INSERT INTO alert_incidents (
    id, alert_rule_id, integration_id, alert_message, severity, status
)
SELECT ('f' || lpad(to_hex(i), 31, '0'))::uuid,
    ('e' || lpad(to_hex(i), 31, '0'))::uuid,
    ('a' || lpad(to_hex(i * 7), 31, '0'))::uuid,
    'Bench ' || (i * 7) || ': consecutive_failures > 2 (current: 4)',
    (ARRAY['info', 'warning', 'critical', 'urgent'])[1 + i %% 4], 'open'
FROM generate_series(1, %(incidents)s) AS i
"""


def _execute(sql: str, params: dict[str, Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def _populate(n: int) -> None:
    made = _count("SELECT count(*) FROM integrations WHERE name LIKE 'bench\\_%%'")
    hours = _count("SELECT count(*) FROM integration_metrics")
    if made == n and hours == n * 24 * DAYS:
        print("  reusing the data already generated", flush=True)
        return
    for table in ("alert_incidents", "alert_rules", "integration_metrics"):
        _execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    _execute("DELETE FROM integrations WHERE name LIKE 'bench\\_%%'")

    began = time.perf_counter()
    _execute(_INTEGRATIONS_SQL, {"n": n})
    # Rows whose integrations are known to exist: skip the per-row FK checks.
    _execute("SET session_replication_role = replica")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = 24 * DAYS
    rows = _execute(
        _METRICS_SQL,
        {"n": n, "hours": hours, "first": now - timedelta(hours=hours - 1)},
    )
    _execute("SET session_replication_role = DEFAULT")
    incidents = min(INCIDENTS, n // 7)
    _execute(_RULES_SQL, {"incidents": incidents})
    _execute(_INCIDENTS_SQL, {"incidents": incidents})
    _execute("ANALYZE")
    print(
        f"  generated {n:,} integrations, {rows:,} hourly rows and "
        f"{incidents} open incidents in {time.perf_counter() - began:.1f} s",
        flush=True,
    )


def _token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(
        username="bench_superadmin", defaults={"is_superuser": True}
    )
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    port = db.get("PORT") or 5432
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST']}:{port}/"
        f"{db['NAME']}"
    )


def _start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "DATABASE_POOL": "true",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "CACHE_KEY_PREFIX": f"bench-api-{port}",
    }
    uvicorn = Path(sys.executable).with_name("uvicorn")
    server = subprocess.Popen(
        [
            str(uvicorn),
            "monitor_project.asgi:application",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={workers}",
            "--no-access-log",
            "--log-level=warning",
        ],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("uvicorn did not start within 60 s")


def _load(
    port: int,
    token: str,
    path_of: Callable[[random.Random], str],
    requests: int,
    clients: int,
) -> list[float]:
    """Send `requests` GETs from `clients` threads; return latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = max(1, requests // clients)
    failures: list[str] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        mine = []
        for _ in range(per_client):
            path = path_of(rng)
            began = time.perf_counter()
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            answer.read()
            mine.append((time.perf_counter() - began) * 1000)
            if answer.status != 200:
                failures.append(f"{answer.status} {path}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    return latencies


def _report(label: str, latencies: list[float], seconds: float) -> None:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(
        f"  {label:<46} p50 {statistics.median(ordered):7.1f} ms   "
        f"p95 {p95:7.1f} ms   {len(ordered) / seconds:6.0f} req/s  (target p95 < 100)",
        flush=True,
    )


def run() -> None:
    n = int(os.environ.get("BENCH_API_INTEGRATIONS", "10000"))
    clients = int(os.environ.get("BENCH_API_CLIENTS", "8"))
    requests = int(os.environ.get("BENCH_API_REQUESTS", "400"))
    workers = int(os.environ.get("BENCH_API_WORKERS", "2"))

    db = connection.settings_dict
    db.setdefault("TEST", {})
    db["TEST"]["NAME"] = f"{db['NAME']}_bench_api"
    print(f"api benchmark in {db['TEST']['NAME']}", flush=True)
    original = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=True
    )
    server = None
    try:
        # Bulk loading and ANALYZE need the owner of the tables.
        with access.as_owner():
            _populate(n)
        token = _token()
        week_ago = (datetime.now(UTC) - timedelta(days=7)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )

        def metrics(rng: random.Random) -> str:
            integration = f"a{rng.randint(1, n):031x}"
            return f"/api/integrations/{integration}/metrics/?since={week_ago}"

        def search(rng: random.Random) -> str:
            return (
                f"/api/integrations/?search=Bench+{rng.randint(1, 99)}&status=healthy"
            )

        endpoints: list[tuple[str, Callable[[random.Random], str]]] = [
            ("GET /api/integrations/ (first page)", lambda rng: "/api/integrations/"),
            ("GET /api/integrations/?search=&status=", search),
            ("GET /api/dashboard/", lambda rng: "/api/dashboard/"),
            ("GET /api/integrations/{id}/metrics/ (7 days)", metrics),
        ]
        port = _free_port()
        server = _start_server(port, workers)
        print(
            f"  uvicorn with {workers} workers, {clients} clients, "
            f"{requests} requests per endpoint",
            flush=True,
        )
        for label, path_of in endpoints:
            _load(port, token, path_of, clients * 3, clients)  # warm up
            began = time.perf_counter()
            latencies = _load(port, token, path_of, requests, clients)
            _report(label, latencies, time.perf_counter() - began)

        from integrations_app.views import dashboard

        cold = []
        for _ in range(5):
            began = time.perf_counter()
            dashboard()
            cold.append((time.perf_counter() - began) * 1000)
        print(
            f"  dashboard figures uncached, in process: median "
            f"{statistics.median(cold):.1f} ms (the endpoint caches them 15 s)",
            flush=True,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.creation.destroy_test_db(original, verbosity=0, keepdb=True)
