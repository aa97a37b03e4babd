"""Health checks end to end: beat, Redis broker, a Celery worker, PostgreSQL.

Seeds integrations that point at a local upstream answering in a few
milliseconds, runs the real beat and worker processes for a while, then reads
what was stored and prints throughput, dispatch lag, storage latency, CPU and
memory. Sizes come from the environment:

    BENCH_CHECKS_INTEGRATIONS   10000    integrations to seed (else BENCH_INTEGRATIONS)
    BENCH_CHECKS_SCALE          1.0      multiplies the integration count
    BENCH_CHECKS_INTERVAL       1        check interval in minutes
    BENCH_CHECKS_SECONDS        180      measured window
    BENCH_CHECKS_LATENCY_MS     5        upstream answer time
    BENCH_CHECKS_CONCURRENCY    4        worker processes, as the Procfile starts
    BENCH_CHECKS_THREADS        25       checks one worker process runs at once
    BENCH_CHECKS_COLD           0        1: start every integration "unknown", so
                                         its first check is a status change

By default integrations start healthy, as after their first check: the window
then measures the steady state, in which status changes are rare.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Longer than the dispatch lookahead, so the window opens on the steady state.
WARMUP_SECONDS = 45
DRAIN_SECONDS = 20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _env_number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _urls() -> tuple[str, str]:
    database = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/integration_monitor"
    )
    parts = urlsplit(database)
    bench_db = (parts.path.lstrip("/") or "integration_monitor") + "_bench_checks"
    database = urlunsplit(parts._replace(path="/" + bench_db))
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_parts = urlsplit(redis)
    redis = urlunsplit(redis_parts._replace(path="/13"))
    return database, redis


# -- the upstream -----------------------------------------------------------


async def _serve(port: int, latency: float) -> None:
    body = b'{"status":"ok"}'
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(latency)
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def upstream_main(port: int, latency_ms: float) -> None:
    asyncio.run(_serve(port, latency_ms / 1000))


# -- process accounting -----------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _tree(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _cpu_and_rss(pid: int) -> tuple[float, int]:
    with suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        rss = int(fields[21]) * PAGE_SIZE
        return cpu, rss
    return 0.0, 0


class Meter:
    """Sample CPU per process (the last reading counts) and the peak of total RSS."""

    def __init__(self) -> None:
        self.cpu: dict[int, float] = {}
        self.start_cpu: dict[int, float] = {}
        self.peak_rss = 0

    def sample(self, pids: list[int], *, baseline: bool = False) -> None:
        rss_total = 0
        for pid in pids:
            cpu, rss = _cpu_and_rss(pid)
            if baseline or pid not in self.start_cpu:
                self.start_cpu.setdefault(pid, cpu if baseline else 0.0)
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu)
            rss_total += rss
        self.peak_rss = max(self.peak_rss, rss_total)

    def seconds(self, only: int | None = None) -> float:
        return sum(
            cpu - self.start_cpu.get(pid, 0.0)
            for pid, cpu in self.cpu.items()
            if only is None or pid == only
        )


# -- the run ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare_database(database: str, env: dict[str, str]) -> None:
    import psycopg

    parts = urlsplit(database)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure() -> None:
    integrations = int(
        _env_number(
            "BENCH_CHECKS_INTEGRATIONS", _env_number("BENCH_INTEGRATIONS", 10000)
        )
        * _env_number("BENCH_CHECKS_SCALE", 1.0)
    )
    interval = int(_env_number("BENCH_CHECKS_INTERVAL", 1))
    seconds = int(_env_number("BENCH_CHECKS_SECONDS", 180))
    latency_ms = _env_number("BENCH_CHECKS_LATENCY_MS", 5)
    concurrency = int(_env_number("BENCH_CHECKS_CONCURRENCY", 4))
    threads = int(_env_number("BENCH_CHECKS_THREADS", 25))

    database, redis = _urls()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis,
        "MONITOR_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CHECK_THREADS": str(threads),
        "CHECK_BATCH_SIZE": str(threads),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")
    print(f"checks: preparing {integrations} integrations in a fresh database")
    _prepare_database(database, env)

    import django

    django.setup()
    import redis as redislib
    from django.db import connection
    from django.utils import timezone

    from integrations_app import scheduling
    from integrations_app.models import Integration

    redislib.Redis.from_url(redis).flushdb()

    port = _free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.checks", "upstream", str(port), str(latency_ms)],
        cwd=ROOT,
    )
    period = interval * 60
    start = timezone.now() + timezone.timedelta(seconds=WARMUP_SECONDS)
    rows = [
        Integration(
            name=f"bench_{n}",
            display_name=f"Bench {n}",
            service_type="api",
            base_url=f"http://127.0.0.1:{port}",
            health_check_endpoint=f"/health/{n}",
            auth_type="none",
            health_check_interval_minutes=interval,
            timeout_seconds=10,
        )
        for n in range(integrations)
    ]
    cold = os.environ.get("BENCH_CHECKS_COLD") == "1"
    for row in rows:
        row.next_check_at = scheduling.slot_after(start, row.pk, period)
        if not cold:
            row.current_health_status = "healthy"
            row.last_health_check = row.next_check_at - timezone.timedelta(
                seconds=period
            )
            row.last_successful_check = row.last_health_check
    Integration.objects.bulk_create(rows, batch_size=2000)
    Integration.objects.exclude(name__startswith="bench_").update(
        monitoring_enabled=False
    )
    connection.close()

    scratch = ROOT / "var" / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    logs = scratch / "checks-worker.log"
    schedule = scratch / "checks-beat-schedule"
    with logs.open("w") as log:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "monitor_project", "worker",
                "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        beat = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "monitor_project", "beat",
                "--loglevel=WARNING", f"--schedule={schedule}",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    worker_meter, db_meter = Meter(), Meter()
    ends = start + timezone.timedelta(seconds=seconds)
    print(
        f"checks: measuring {seconds} s from {start:%H:%M:%S} "
        f"({integrations} integrations every {interval} min)"
    )
    try:
        first = True
        while timezone.now() < ends + timezone.timedelta(seconds=DRAIN_SECONDS):
            measuring = timezone.now() >= start
            if measuring:
                worker_meter.sample(_tree(worker.pid), baseline=first)
                db_meter.sample(_backends(database), baseline=first)
                first = False
            time.sleep(1)
    finally:
        for process in (beat, worker):
            process.send_signal(signal.SIGTERM)
        for process in (beat, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        upstream.kill()
        with suppress(OSError):
            schedule.unlink()

    _report(
        integrations=integrations,
        interval=interval,
        seconds=seconds,
        latency_ms=latency_ms,
        start=start,
        ends=ends,
        period=period,
        worker=worker_meter,
        worker_pid=worker.pid,
        db=db_meter,
        logs=logs,
    )


def _backends(database: str) -> list[int]:
    import psycopg

    parts = urlsplit(database)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s",
            (parts.path.lstrip("/"),),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


_STATS_SQL = """
WITH c AS (
    SELECT h.integration_id,
           h.check_timestamp AS ts,
           h.created_at,
           h.response_time_ms,
           h.is_successful,
           ('x' || substr(md5(h.integration_id::text), 1, 8))::bit(32)::bigint
               %% %(period)s AS phase
    FROM integration_health_checks h
    WHERE h.check_timestamp >= %(start)s - make_interval(secs => 5)
), slotted AS (
    SELECT *,
           to_timestamp(
               floor((extract(epoch FROM ts) - phase) / %(period)s) * %(period)s
               + phase
           ) AS slot
    FROM c
)
SELECT extract(epoch FROM ts - slot) AS lag,
       extract(epoch FROM created_at - ts) * 1000 - coalesce(response_time_ms, 0)
           AS stored_ms,
       slot, integration_id, is_successful, response_time_ms
FROM slotted
WHERE slot >= %(start)s AND slot < %(ends)s
"""


def _report(**run: Any) -> None:
    from django.db import connection

    from integrations_app.models import Integration

    with connection.cursor() as cursor:
        cursor.execute(
            _STATS_SQL,
            {"period": run["period"], "start": run["start"], "ends": run["ends"]},
        )
        checks = cursor.fetchall()
    lags = [float(row[0]) for row in checks]
    stored = [float(row[1]) for row in checks]
    answered = [float(row[5]) for row in checks if row[5] is not None]
    unique = {(row[3], row[2]) for row in checks}
    failed = sum(1 for row in checks if not row[4])

    # Every integration has exactly one slot per period in the window.
    slots_per = run["seconds"] / run["period"]
    expected = round(
        Integration.objects.filter(name__startswith="bench_").count() * slots_per
    )
    seconds = run["seconds"]
    per_thousand = 1000 / max(len(checks), 1)

    batch_ms, dispatch_ms = [], []
    for line in run["logs"].read_text(errors="replace").splitlines():
        if match := re.search(r"checked (\d+) of \d+ .* in (\d+) ms", line):
            batch_ms.append(float(match.group(2)))
        elif match := re.search(r"dispatched (\d+) due checks .* in (\d+) ms", line):
            dispatch_ms.append(float(match.group(2)))

    print(f"checks: integrations                {run['integrations']}")
    print(f"checks: interval                    {run['interval']} min")
    print(f"checks: window                      {seconds} s")
    print(f"checks: upstream answer time        {run['latency_ms']:.0f} ms")
    print(f"checks: checks due in window        {expected}")
    print(f"checks: checks completed            {len(unique)} ({failed} failed)")
    print(f"checks: missed                      {max(expected - len(unique), 0)}")
    print(f"checks: run twice for one slot      {len(checks) - len(unique)}")
    print(f"checks: completed per second        {len(unique) / seconds:.1f}")
    print(
        f"checks: dispatch lag p50 / p99      "
        f"{_percentile(lags, 0.5):.2f} s / {_percentile(lags, 0.99):.2f} s"
    )
    print(
        f"checks: check-to-stored p50 / p99   "
        f"{_percentile(stored, 0.5):.0f} ms / {_percentile(stored, 0.99):.0f} ms"
    )
    print(
        f"checks: request time p50 / p99      "
        f"{_percentile(answered, 0.5):.0f} ms / {_percentile(answered, 0.99):.0f} ms"
    )
    worker_cpu = run["worker"].seconds() * per_thousand
    db_cpu = run["db"].seconds() * per_thousand
    main_cpu = run["worker"].seconds(only=run["worker_pid"]) * per_thousand
    print(
        f"checks: worker CPU per 1000 checks  {worker_cpu:.2f} s "
        f"({main_cpu:.2f} s in the consumer process, the rest in the pool)"
    )
    print(f"checks: database CPU per 1000       {db_cpu:.2f} s")
    print(
        f"checks: peak worker memory          {run['worker'].peak_rss / 2**20:.0f} MiB"
    )
    if batch_ms:
        print(
            f"checks: batch run p50 / p99         {_percentile(batch_ms, 0.5):.0f} ms"
            f" / {_percentile(batch_ms, 0.99):.0f} ms over {len(batch_ms)} batches"
        )
    if dispatch_ms:
        print(
            f"checks: dispatch run p50 / max      "
            f"{_percentile(dispatch_ms, 0.5):.0f} ms / {max(dispatch_ms):.0f} ms"
        )


def run() -> None:
    """Run the checks benchmark in a process of its own, with its own database."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "-m", "bench.checks", "measure"],
        cwd=ROOT,
        env=env,
        check=False,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["upstream"]:
        upstream_main(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1:2] == ["measure"]:
        measure()
    else:
        run()
