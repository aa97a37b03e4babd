"""Live updates: status change committed in a worker to its message at every client.

Starts one web process (uvicorn, as in the Procfile) on a throwaway database,
connects WebSocket clients from two client processes, then commits status
changes one after another the way a worker does (a transaction whose commit
broadcasts through the Redis channel layer) and measures, at every client, the
time from the commit to the message. Then adds clients in steps to see what
one web process holds: its memory per client and the latency at each step.
"""

from __future__ import annotations

import asyncio
import datetime
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CLIENTS = int(os.environ.get("BENCH_LIVE_CLIENTS", "1000"))
STEPS = [int(n) for n in os.environ.get("BENCH_LIVE_STEPS", "2000,4000").split(",")]
CHANGES = 10
CLIENT_PROCESSES = 2
ROOT = Path(__file__).resolve().parent.parent


def _client_process(url: str, origin: str, pipe: Connection) -> None:
    asyncio.run(_clients(url, origin, pipe))


async def _clients(url: str, origin: str, pipe: Connection) -> None:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    sockets: list[Any] = []
    failures = 0
    loop = asyncio.get_running_loop()

    async def listen(ws: Any) -> None:
        async for raw in ws:
            received = time.time()
            # Parsing only the timestamp keeps the client's own cost small.
            start = raw.find('"changed_at": "') + 15
            changed = datetime.datetime.fromisoformat(raw[start : raw.find('"', start)])
            latencies.append(received - changed.timestamp())

    async def open_one() -> None:
        nonlocal failures
        try:
            ws = await connect(url, origin=origin, open_timeout=60, ping_interval=None)
        except Exception:
            failures += 1
            return
        sockets.append(ws)
        asyncio.create_task(listen(ws))  # noqa: RUF006

    # Handshakes in flight at once; more only queue in the listen backlog.
    gate = asyncio.Semaphore(50)

    async def gated() -> None:
        async with gate:
            await open_one()

    while True:
        command, arg = await loop.run_in_executor(None, pipe.recv)
        if command == "open":
            await asyncio.gather(*(gated() for _ in range(arg)))
            pipe.send((len(sockets), failures))
        elif command == "drain":
            pipe.send(list(latencies))
            latencies.clear()
        else:
            for ws in sockets:
                await ws.close()
            pipe.send(None)
            return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    if host.startswith("/"):
        return f"postgres://{user}{password}@/{db['NAME']}?host={host}"
    return f"postgres://{user}{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def _change(integration: Any, status: str, previous: str) -> None:
    """Commit one status change as the check engine does: announced on commit."""
    from django.db import transaction
    from django.utils import timezone

    from integrations_app.models import Integration
    from integrations_app.signals import announce, status_changed

    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(
            current_health_status=status
        )
        announce(
            status_changed,
            Integration,
            integration_id=integration.pk,
            display_name=integration.display_name,
            health_status=status,
            previous_status=previous,
            changed_at=timezone.now(),
        )


def _measure(
    integration: Any, pipes: list[Connection], clients: int
) -> tuple[list[float], int]:
    """Commit changes one at a time, each once the last reached every client."""
    statuses = ["healthy", "warning"]
    samples: list[float] = []
    missed = 0
    for k in range(CHANGES):
        _change(integration, statuses[(k + 1) % 2], statuses[k % 2])
        got: list[float] = []
        deadline = time.monotonic() + 30
        while len(got) < clients and time.monotonic() < deadline:
            time.sleep(0.05)
            for pipe in pipes:
                pipe.send(("drain", None))
                got.extend(pipe.recv())
        samples.extend(got)
        missed += max(clients - len(got), 0)
        time.sleep(0.2)
    return sorted(samples), missed


def _percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    return samples[min(int(len(samples) * share), len(samples) - 1)] * 1000


def _open(pipes: list[Connection], total: int) -> tuple[int, int]:
    share = total // len(pipes)
    for index, pipe in enumerate(pipes):
        extra = total - share * len(pipes) if index == 0 else 0
        pipe.send(("open", share + extra))
    held = failed = 0
    for pipe in pipes:
        count, failures = pipe.recv()
        held += count
        failed += failures
    return held, failed


def run() -> None:
    import logging

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from rest_framework.authtoken.models import Token

    from integrations_app.models import Integration

    logging.disable(logging.WARNING)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    # This process broadcasts on the same key space as the web process.
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix
    connection.settings_dict.setdefault("TEST", {})["NAME"] = "bench_live"
    old = setup_databases(verbosity=0, interactive=False)
    web: subprocess.Popen[bytes] | None = None
    processes: list[Any] = []
    pipes: list[Connection] = []
    try:
        user = User.objects.create_user("bench_staff", password=uuid.uuid4().hex)
        user.groups.add(Group.objects.get(name="staff"))
        token = Token.objects.create(user=user).key
        integration = Integration.objects.create(
            name="bench_live",
            display_name="Bench",
            service_type="api",
            auth_type="none",
        )

        port = _free_port()
        env = dict(
            os.environ,
            DATABASE_URL=_database_url(),
            REDIS_URL=settings.REDIS_URL,
            CHANNELS_PREFIX=prefix,
            SECRET_KEY=settings.SECRET_KEY,
            FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
            LOG_LEVEL="WARNING",
            DATABASE_POOL="true",
        )
        web = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "monitor_project.asgi:application",
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                "--log-level", "warning", "--backlog", "4096",
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise RuntimeError("web process did not start") from None
                time.sleep(0.2)

        url = f"ws://127.0.0.1:{port}/ws/status/?token={token}"
        origin = f"http://127.0.0.1:{port}"
        context = multiprocessing.get_context("spawn")
        for _ in range(CLIENT_PROCESSES):
            parent, child = context.Pipe()
            process = context.Process(target=_client_process, args=(url, origin, child))
            process.start()
            processes.append(process)
            pipes.append(parent)

        baseline_mb = _rss_mb(web.pid)
        print(
            f"live: one web process (uvicorn), {CLIENT_PROCESSES} client processes, "
            f"{CHANGES} status changes per step"
        )
        held = 0
        for target in [CLIENTS, *STEPS]:
            started = time.monotonic()
            held, failed = _open(pipes, target - held)
            opened_in = time.monotonic() - started
            time.sleep(1)
            samples, missing = _measure(integration, pipes, held)
            rss = _rss_mb(web.pid)
            per_client_kb = (rss - baseline_mb) * 1024 / max(held, 1)
            print(
                f"  {held:>5} clients (opened in {opened_in:.1f} s, {failed} refused): "
                f"commit to every client p50 {_percentile(samples, 0.5):.0f} ms, "
                f"p99 {_percentile(samples, 0.99):.0f} ms, "
                f"max {_percentile(samples, 1.0):.0f} ms, {missing} missed; "
                f"web RSS {rss:.0f} MB ({per_client_kb:.0f} KB per client)"
            )
            if failed or missing:
                break
    finally:
        for pipe in pipes:
            try:
                pipe.send(("close", None))
                pipe.recv()
            except (OSError, EOFError):
                pass
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
        if web is not None:
            web.terminate()
            try:
                web.wait(10)
            except subprocess.TimeoutExpired:
                web.kill()
        teardown_databases(old, verbosity=0)
        logging.disable(logging.NOTSET)


if __name__ == "__main__":
    run()
