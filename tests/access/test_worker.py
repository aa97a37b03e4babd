"""A real Celery worker acts as the system, through the application role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from integrations_app.models import Integration
from tests.access.tasks import report_session

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "")
    host = db["HOST"] or ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    if host.startswith("/"):
        return f"postgres://{user}@/{db['NAME']}?host={quote(host)}"
    return f"postgres://{user}@{host}{port}/{db['NAME']}"


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": _database_url()}
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "monitor_project",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
        "--include=tests.access.tasks",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_worker_queries_as_the_application_role_with_system_rights(
    worker: subprocess.Popen[bytes],
) -> None:
    key = f"access-test:{uuid.uuid4()}"
    client = redis.Redis.from_url(settings.REDIS_URL)

    report_session.delay(key)
    deadline = time.monotonic() + 60
    while (raw := client.get(key)) is None:
        assert worker.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "the task did not run"
        time.sleep(0.2)

    report = json.loads(raw)
    assert report["user"] == settings.DATABASE_APP_ROLE
    assert report["role"] == "system"
    # The data migration's integrations are committed, so the worker sees them.
    assert report["integrations"] == Integration.objects.count() > 0
