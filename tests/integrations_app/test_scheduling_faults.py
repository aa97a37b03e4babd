from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.utils import timezone

from integrations_app import scheduling
from integrations_app.models import HealthCheck, Integration
from tests.integrations_app.factories import IntegrationFactory
from tests.integrations_app.upstream import Exchange

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import sys, django
from monitor_project import access
access.set_process_default("system")  # as a Celery worker does
django.setup()
from django.utils.dateparse import parse_datetime
from integrations_app import scheduling
scheduling.run_batch(sys.argv[1].split(","), parse_datetime(sys.argv[2]))
"""


def _database_url() -> str:
    """Name the test database for a child process, over TCP or a socket folder."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    socket_dir = db.get("OPTIONS", {}).get("host")
    if socket_dir and not db.get("HOST"):
        return f"postgres://{user}@/{db['NAME']}?host={quote(socket_dir)}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_leaves_nothing_half_written(
    upstream: Any,
) -> None:
    Integration.objects.all().delete()
    everyone_asked = threading.Event()
    asked: list[str] = []
    server = upstream()

    def answer(ex: Exchange) -> None:
        asked.append(ex.request.path)
        if len(asked) == 5:
            everyone_asked.set()
        if ex.request.path.endswith("/slow"):
            time.sleep(30)
        ex.respond(200)

    base = server.url("").rstrip("/")
    fast = IntegrationFactory.create_batch(
        4, base_url=base, health_check_endpoint="/fast", health_check_interval_minutes=1
    )
    slow = IntegrationFactory(
        base_url=base,
        health_check_endpoint="/slow",
        health_check_interval_minutes=1,
        timeout_seconds=50,
    )
    for path in ["/fast", "/slow"]:
        server.routes[path] = answer
    now = timezone.now()
    claims = scheduling.claim_due(now)
    assert len(claims) == 5

    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            WORKER,
            ",".join(c.integration_id for c in claims),
            now.isoformat(),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": _database_url(),
            "MONITOR_ALLOWED_NETWORKS": "127.0.0.0/8",
            "DJANGO_SETTINGS_MODULE": "monitor_project.settings",
        },
    )
    try:
        # Four answers are in the worker's hands, one is pending: kill it now.
        assert everyone_asked.wait(timeout=60)
        time.sleep(0.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()

    assert HealthCheck.objects.count() == 0
    for integration in [*fast, slow]:
        integration.refresh_from_db()
        assert integration.last_health_check is None
        assert integration.current_health_status == "unknown"
    # Their next turn comes as scheduled, not sooner and not never.
    assert scheduling.claim_due(now + timedelta(seconds=20), lookahead_seconds=10) == []
    later = scheduling.claim_due(now + timedelta(seconds=100), limit=100)
    assert {c.integration_id for c in later} == {c.integration_id for c in claims}
