"""What row-level security costs: API endpoints with the policies off and forced.

With the API benchmark's data (bench/api.py: BENCH_API_INTEGRATIONS, default
here 2000, with 30 days of hourly metrics and open incidents) it starts
uvicorn and times each endpoint from concurrent keep-alive clients, as staff
and as a manager, in alternating rounds with row-level security disabled and
forced on the guarded tables; it prints p50 and p95 of both side by side.
Nothing else differs between the sides: the same role, middleware and server.
Without the API it times the admin's lists in process instead.
BENCH_ACCESS_ROUNDS and BENCH_ACCESS_REQUESTS set the rounds and the requests
per endpoint and side in each round (default 4 and 160).
"""

from __future__ import annotations

import datetime
import importlib
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from types import ModuleType

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import setup_test_environment, teardown_test_environment
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alerts_app.models import AlertRule, Incident
from integrations_app.models import HealthCheck, Integration
from metrics_app.models import Baseline, Metric
from monitor_project import access

CHECKS_PER_INTEGRATION = 48
INCIDENTS_PER_INTEGRATION = 3

# (label, path, role); {id} is an integration's id. Paths the URLconf does not
# have are skipped, so the admin stands in until the API is there.
ENDPOINTS = [
    ("integrations", "/api/integrations/", "staff"),
    ("integrations", "/api/integrations/", "manager"),
    ("health checks", "/api/integrations/{id}/health-checks/", "staff"),
    ("incidents", "/api/incidents/", "staff"),
    ("alert rules", "/api/alert-rules/", "manager"),
    ("baselines", "/api/baselines/", "staff"),
    ("dashboard", "/api/dashboard/", "staff"),
    ("admin integrations", "/admin/integrations_app/integration/", "staff"),
    ("admin health checks", "/admin/integrations_app/healthcheck/", "staff"),
    ("admin incidents", "/admin/alerts_app/incident/", "manager"),
]


def _seed(count: int) -> Integration:
    now = timezone.now()
    integrations = Integration.objects.bulk_create(
        Integration(
            name=f"bench_{i}",
            display_name=f"Bench {i}",
            service_type="api",
            auth_type="none",
            base_url=f"https://bench{i}.example.com",
            current_health_status=("healthy", "warning", "critical")[i % 3],
        )
        for i in range(count)
    )
    HealthCheck.objects.bulk_create(
        (
            HealthCheck(
                integration=integration,
                check_timestamp=now - datetime.timedelta(minutes=30 * k),
                response_time_ms=100 + k,
                status_code=200 if k % 10 else 503,
                is_successful=bool(k % 10),
                health_status="healthy" if k % 10 else "critical",
            )
            for integration in integrations
            for k in range(CHECKS_PER_INTEGRATION)
        ),
        batch_size=5000,
    )
    Metric.objects.bulk_create(
        Metric(
            integration=integration,
            metric_date=(now - datetime.timedelta(hours=h)).date(),
            metric_hour=(now - datetime.timedelta(hours=h)).hour,
            total_checks=60,
            successful_checks=59,
            failed_checks=1,
            avg_response_time_ms=120,
            p95_response_time_ms=200,
        )
        for integration in integrations
        for h in range(24)
    )
    Baseline.objects.bulk_create(
        Baseline(
            integration=integration,
            baseline_start_date=(now - datetime.timedelta(days=30)).date(),
            baseline_end_date=now.date(),
            baseline_response_time_ms=120,
        )
        for integration in integrations
    )
    rules = AlertRule.objects.bulk_create(
        AlertRule(
            integration=integration,
            rule_name=f"down {integration.name}",
            alert_type="availability",
            condition_metric="health_status",
            condition_operator=">=",
            condition_threshold=2,
            severity="critical",
        )
        for integration in integrations
    )
    Incident.objects.bulk_create(
        Incident(
            alert_rule=rule,
            integration_id=rule.integration_id,
            alert_message=f"{rule.rule_name} ({k})",
            severity="critical",
            status="open" if k == 0 else "resolved",
            triggered_at=now - datetime.timedelta(hours=k),
        )
        for rule in rules
        for k in range(INCIDENTS_PER_INTEGRATION)
    )
    return integrations[0]


def _clients() -> dict[str, APIClient]:
    clients = {}
    for role in ("staff", "manager"):
        user = get_user_model().objects.create_user(
            username=f"bench_{role}", is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        token = Token.objects.create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.force_login(user)
        clients[role] = client
    return clients


def _guarded_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relforcerowsecurity ORDER BY relname"
        )
        return [row[0] for row in cursor.fetchall()]


def _policies(tables: list[str], on: bool) -> None:
    verb = "ENABLE" if on else "DISABLE"
    with access.as_owner(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} {verb} ROW LEVEL SECURITY")


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def _measure(
    endpoints: list[tuple[str, str, str]],
    clients: dict[str, APIClient],
    tables: list[str],
    rounds: int,
    requests: int,
) -> dict[tuple[int, bool], list[float]]:
    timings: dict[tuple[int, bool], list[float]] = {}
    for number in range(rounds):
        # Alternate which side goes first so that drift hits both alike.
        for on in (False, True) if number % 2 else (True, False):
            _policies(tables, on)
            for index, (_, path, role) in enumerate(endpoints):
                client = clients[role]
                for _ in range(requests):
                    started = time.perf_counter()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{path} answered {response.status_code}")
                    timings.setdefault((index, on), []).append(elapsed)
    _policies(tables, True)
    return timings


def _report(
    endpoints: list[tuple[str, str, str]],
    timings: dict[tuple[int, bool], list[float]],
) -> None:
    print(
        f"{'endpoint':<22}{'role':<9}{'p50 off':>9}{'p50 on':>9}"
        f"{'p95 off':>9}{'p95 on':>9}{'p95 cost':>10}"
    )
    rows = [
        (label, role, timings[(index, False)], timings[(index, True)])
        for index, (label, _, role) in enumerate(endpoints)
    ]
    # Every request of a side together: noise of one endpoint weighs less.
    pooled_off = [ms for _, _, off, _ in rows for ms in off]
    pooled_on = [ms for _, _, _, on in rows for ms in on]
    rows.append(("all of the above", "", pooled_off, pooled_on))
    for label, role, off, on in rows:
        p95_off, p95_on = _p95(off), _p95(on)
        cost = (p95_on - p95_off) / p95_off * 100
        print(
            f"{label:<22}{role:<9}{statistics.median(off):>7.1f}ms"
            f"{statistics.median(on):>7.1f}ms{p95_off:>7.1f}ms{p95_on:>7.1f}ms"
            f"{cost:>+9.1f}%"
        )


def _tokens() -> dict[str, str]:
    tokens = {}
    for role in ("staff", "manager"):
        user, _ = get_user_model().objects.get_or_create(username=f"bench_{role}")
        user.groups.add(Group.objects.get(name=role))
        tokens[role], _ = Token.objects.get_or_create(user=user)
    return {role: token.key for role, token in tokens.items()}


def _over_http(api: ModuleType, rounds: int, requests: int) -> None:
    count = int(os.environ.get("BENCH_API_INTEGRATIONS", "2000"))
    clients = int(os.environ.get("BENCH_API_CLIENTS", "4"))
    workers = int(os.environ.get("BENCH_API_WORKERS", "2"))
    print(
        f"\n== row-level security over HTTP: {count} integrations, uvicorn with "
        f"{workers} workers, {clients} clients; policies off vs forced"
    )

    db = connection.settings_dict
    # The API benchmark's scratch database: one generates, the other reuses.
    db["TEST"]["NAME"] = f"{db['NAME']}_bench_api"
    original = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=True
    )
    server = None
    tables = _guarded_tables()
    try:
        with access.as_owner():
            api._populate(count)
        tokens = _tokens()
        week_ago = (timezone.now() - datetime.timedelta(days=7)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )

        def metrics(rng: random.Random) -> str:
            integration = f"a{rng.randint(1, count):031x}"
            return f"/api/integrations/{integration}/metrics/?since={week_ago}"

        def search(rng: random.Random) -> str:
            return (
                f"/api/integrations/?search=Bench+{rng.randint(1, 99)}&status=healthy"
            )

        def fixed(path: str) -> Callable[[random.Random], str]:
            return lambda rng: path

        endpoints = [
            ("integrations", fixed("/api/integrations/"), "staff"),
            ("integrations search", search, "staff"),
            ("metrics, 7 days", metrics, "staff"),
            ("incidents", fixed("/api/incidents/"), "staff"),
            ("dashboard", fixed("/api/dashboard/"), "staff"),
            ("integrations", fixed("/api/integrations/"), "manager"),
            ("alert rules", fixed("/api/alert-rules/"), "manager"),
        ]
        port = api._free_port()
        server = api._start_server(port, workers)

        timings: dict[tuple[int, bool], list[float]] = {}
        for number in range(rounds):
            # Alternate which side goes first so that drift hits both alike.
            for on in (False, True) if number % 2 else (True, False):
                _policies(tables, on)
                for index, (_, path_of, role) in enumerate(endpoints):
                    token = tokens[role]
                    api._load(port, token, path_of, clients * 2, clients)  # warm up
                    latencies = api._load(port, token, path_of, requests, clients)
                    timings.setdefault((index, on), []).extend(latencies)
        _report([(label, "", role) for label, _, role in endpoints], timings)
        print(f"{rounds} rounds x {requests} requests per endpoint and side")
    finally:
        _policies(tables, True)
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.creation.destroy_test_db(original, verbosity=0, keepdb=True)


def _in_process(rounds: int, requests: int) -> None:
    count = int(os.environ.get("BENCH_ACCESS_INTEGRATIONS", "200"))
    print(f"\n== row-level security in process: {count} integrations, off vs forced")

    scratch = f"bench_access_{uuid.uuid4().hex[:8]}"
    connection.settings_dict["TEST"]["NAME"] = scratch
    setup_test_environment()
    original = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False
    )
    try:
        first = _seed(count)
        clients = _clients()
        endpoints = []
        for label, path, role in ENDPOINTS:
            path = path.format(id=first.pk)
            try:
                resolve(path)
            except Resolver404:
                continue
            endpoints.append((label, path, role))
        for _, path, role in endpoints:
            clients[role].get(path)  # warm caches and the query plans
        timings = _measure(endpoints, clients, _guarded_tables(), rounds, requests)
        _report(endpoints, timings)
        print(f"{rounds} rounds x {requests} requests per endpoint and side")
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
        teardown_test_environment()


def run() -> None:
    rounds = int(os.environ.get("BENCH_ACCESS_ROUNDS", "4"))
    requests = int(os.environ.get("BENCH_ACCESS_REQUESTS", "160"))
    try:
        api = importlib.import_module("bench.api")
    except ModuleNotFoundError:
        _in_process(rounds, max(1, requests // 8))
        return
    _over_http(api, rounds, requests)
