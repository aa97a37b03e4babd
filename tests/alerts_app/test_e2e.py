from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from alerts_app import tasks
from alerts_app.models import Incident
from monitor_project.celery import app
from tests.alerts_app.factories import AlertRuleFactory
from tests.integrations_app.factories import IntegrationFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Path]:
    """Start a real Celery worker on the test database; mail lands in files."""
    outbox = tmp_path / "mail"
    outbox.mkdir()
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
            f"/{settings['NAME']}"
        ),
        # django-environ takes the path after the third slash: keep it absolute.
        "EMAIL_URL": f"filemail:///{outbox}",
        "CONN_MAX_AGE": "0",
    }
    app.control.purge()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "monitor_project",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield outbox
    finally:
        process.terminate()
        process.wait(timeout=20)
        app.control.purge()


def _wait(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("the worker did not finish in time")


def test_a_real_worker_evaluates_opens_and_mails_the_incident(worker: Path) -> None:
    integration = IntegrationFactory(consecutive_failures=6, display_name="Billing API")
    rule = AlertRuleFactory(
        integration=integration,
        condition_metric="consecutive_failures",
        condition_operator=">=",
        condition_threshold=Decimal(3),
        notification_recipients=["oncall@example.com"],
    )

    tasks.evaluate_rules.delay()

    incident = _wait(lambda: Incident.objects.filter(alert_rule=rule).first())
    entries = _wait(
        lambda: [
            e
            for e in Incident.objects.get(pk=incident.pk).notifications_sent or []
            if e["status"] == "sent"
        ]
    )
    assert entries[0]["recipient"] == "oncall@example.com"
    [mail] = _wait(lambda: list(worker.iterdir()))
    text = mail.read_text()
    assert "Billing API" in text
    assert "oncall@example.com" in text
