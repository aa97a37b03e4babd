"""The whole system as it runs: web, worker and beat against PostgreSQL and Redis.

Set-up writes users and tokens through the ORM; everything checked afterwards
goes through the HTTP API and the WebSocket stream only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from integrations_app.demo_upstream import Upstream

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90
# The dispatcher runs every 10 s and claims 10 s ahead; a check may wait both.
FIRST_CHECK_SECONDS = 60
STEP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        return f"postgres://{auth}@/{db['NAME']}?host={quote(host)}"
    return f"postgres://{auth}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


class Stack:
    """The processes of the Procfile, started and stopped by the test."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.port = _free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        prefix = f"e2e-{uuid.uuid4().hex[:10]}"
        self.env = dict(
            os.environ,
            DATABASE_URL=_database_url(),
            REDIS_URL=settings.REDIS_URL,
            DEBUG="true",
            SECRET_KEY=settings.SECRET_KEY,
            FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
            MONITOR_ALLOWED_NETWORKS="127.0.0.1/32",
            CHANNELS_PREFIX=prefix,
            CACHE_KEY_PREFIX=prefix,
            CELERY_KEY_PREFIX=f"{prefix}:",
            CONN_MAX_AGE="0",
            PYTHONUNBUFFERED="1",
        )

    def start(self) -> None:
        python = sys.executable
        commands = {
            "web": [
                python, "-m", "uvicorn", "monitor_project.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
            ],
            "worker": [
                python, "-m", "celery", "-A", "monitor_project", "worker",
                "--loglevel=INFO", "--concurrency=2", "--without-gossip",
                "--without-mingle",
            ],
            "beat": [
                python, "-m", "celery", "-A", "monitor_project", "beat",
                "--loglevel=INFO", f"--schedule={self.logs / 'beat-schedule'}",
            ],
        }  # fmt: skip
        # As the Procfile runs it: the web process pools its connections.
        envs = {"web": dict(self.env, DATABASE_POOL="true")}
        for name, command in commands.items():
            log = (self.logs / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=envs.get(name, self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        # A worker's pool children share its process group; none may survive.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def dead(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.poll() is not None]

    def tails(self, lines: int = 25) -> str:
        parts = []
        for name in self.processes:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {name} (last {lines} lines)\n{tail}")
        return "\n".join(parts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Listener:
    """One WebSocket client that keeps every message it receives."""

    def __init__(self, url: str, origin: str) -> None:
        self.socket = connect(url, origin=origin, open_timeout=10)  # type: ignore[arg-type]
        self.messages: list[dict[str, Any]] = []
        self.closed: str | None = None
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.socket:
                with self.changed:
                    self.messages.append(json.loads(raw))
                    self.changed.notify_all()
        except ConnectionClosed as exc:
            self.closed = str(exc)
        with self.changed:
            self.closed = self.closed or "closed"
            self.changed.notify_all()

    def close(self) -> None:
        self.socket.close()
        self.thread.join(5)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream({"payments": "ok"}).start()
    yield server
    server.stop()


def test_a_failing_service_is_seen_alerted_acknowledged_and_resolved_live(
    stack: Stack, upstream: Upstream, staff: Any, manager: Any, superadmin: Any
) -> None:
    tokens = {u.username: Token.objects.create(user=u).key for u in (staff, manager)}
    tokens["root"] = Token.objects.create(user=superadmin).key

    def api(user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Token {tokens[user]}"}
        return requests.request(
            method, stack.url + path, headers=headers, timeout=30, **kwargs
        )

    def fail(step: str, detail: str = "") -> None:
        pytest.fail(
            f"step {step!r} did not happen in time. {detail}\n{stack.tails()}",
            pytrace=False,
        )

    def until(step: str, seconds: float, probe: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if stack.dead():
                fail(step, f"process(es) exited: {stack.dead()}")
            result = probe()
            if result:
                return result
            time.sleep(0.3)
        fail(step)

    def ready() -> bool:
        try:
            return requests.get(stack.url + "/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    until("web process answers /readyz", STARTUP_SECONDS, ready)

    # The threshold the engine applies, set the way an operator would.
    answer = api(
        "root",
        "PATCH",
        "/api/system-config/max_consecutive_failures/",
        json={"config_value": 2},
    )
    assert answer.status_code == 200, answer.text

    listener = Listener(
        f"ws://127.0.0.1:{stack.port}/ws/status/?token={tokens[manager.username]}",
        origin=stack.url,
    )
    try:
        listener.socket.send(json.dumps({"type": "ping"}))

        def message(kind: str, **expected: Any) -> Callable[[], Any]:
            def probe() -> Any:
                if listener.closed:
                    fail(f"WebSocket {kind}", f"socket closed: {listener.closed}")
                with listener.changed:
                    for item in listener.messages:
                        data = item.get("data", {})
                        if item["type"] == kind and expected.items() <= data.items():
                            return item
                return None

            return probe

        until("pong on the WebSocket", STEP_SECONDS, message("pong"))

        created = api(
            manager.username,
            "POST",
            "/api/integrations/",
            json={
                "name": "payments_e2e",
                "display_name": "Payments (e2e)",
                "service_type": "payment",
                "base_url": upstream.url(),
                "health_check_endpoint": "/payments/health",
                "auth_type": "none",
                "health_check_interval_minutes": 1,
                "timeout_seconds": 5,
            },
        )
        assert created.status_code == 201, created.text
        integration_id = created.json()["id"]
        rule = api(
            manager.username,
            "POST",
            "/api/alert-rules/",
            json={
                "integration": integration_id,
                "rule_name": "Payments critical",
                "alert_type": "availability",
                "condition_metric": "health_status",
                "condition_operator": ">=",
                "condition_threshold": "2",
                "condition_duration_minutes": 0,
                "severity": "critical",
                "auto_resolve": True,
                "cooldown_minutes": 0,
                "notification_channels": ["email"],
                "notification_recipients": ["oncall@example.com"],
            },
        )
        assert rule.status_code == 201, rule.text

        until(
            "scheduler checks the new integration (status_change to healthy)",
            FIRST_CHECK_SECONDS,
            message(
                "status_change", integration_id=integration_id, health_status="healthy"
            ),
        )
        detail = api(staff.username, "GET", f"/api/integrations/{integration_id}/")
        assert detail.json()["current_health_status"] == "healthy"
        checks = api(
            staff.username, "GET", f"/api/integrations/{integration_id}/health-checks/"
        ).json()
        assert checks["count"] >= 1
        assert checks["results"][0]["check_type"] == "automated"
        assert upstream.hits["payments"] >= 1

        # The upstream starts failing; checks now come from the scheduler and
        # from staff pressing "test", whichever is first.
        upstream.set_mode("payments", "error")
        tested = api(
            staff.username, "POST", f"/api/integrations/{integration_id}/test/"
        )
        assert tested.status_code == 200, tested.text
        assert tested.json()["status_code"] == 500
        assert tested.json()["health_status"] == "critical"
        until(
            "one failure makes it warning (status_change to warning)",
            STEP_SECONDS,
            message(
                "status_change", integration_id=integration_id, health_status="warning"
            ),
        )
        api(staff.username, "POST", f"/api/integrations/{integration_id}/test/")
        until(
            "the configured second failure makes it critical",
            STEP_SECONDS,
            message(
                "status_change", integration_id=integration_id, health_status="critical"
            ),
        )
        alert = until(
            "an incident opens (new_alert)",
            STEP_SECONDS,
            message("new_alert", integration_id=integration_id),
        )
        incident_id = alert["data"]["id"]
        assert alert["data"]["severity"] == "critical"
        listed = api(
            staff.username,
            "GET",
            f"/api/incidents/?integration={integration_id}&status=open",
        ).json()
        assert [i["id"] for i in listed["results"]] == [incident_id]

        acknowledged = api(
            staff.username, "POST", f"/api/incidents/{incident_id}/acknowledge/"
        )
        assert acknowledged.status_code == 200, acknowledged.text
        until(
            "the acknowledgement is streamed (incident_updated)",
            STEP_SECONDS,
            message("incident_updated", id=incident_id, status="acknowledged"),
        )

        upstream.set_mode("payments", "ok")
        api(staff.username, "POST", f"/api/integrations/{integration_id}/test/")
        until(
            "recovery is streamed (status_change to healthy)",
            STEP_SECONDS,
            message(
                "status_change",
                integration_id=integration_id,
                health_status="healthy",
                previous_status="critical",
            ),
        )
        until(
            "the incident resolves on its own (alert_resolved)",
            STEP_SECONDS,
            message("alert_resolved", id=incident_id),
        )
        incident = api(staff.username, "GET", f"/api/incidents/{incident_id}/").json()
        assert incident["status"] == "resolved"
        assert incident["resolved_at"]
    finally:
        listener.close()
