from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from metrics_app import tasks
from metrics_app.locks import advisory_lock, lock_key
from metrics_app.models import Metric
from monitor_project.schedule import BEAT_SCHEDULE
from tests.integrations_app.factories import IntegrationFactory
from tests.metrics_app.factories import checks, ok

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_session() -> Iterator[psycopg.Connection]:
    """A second PostgreSQL session, as a concurrent worker would hold."""
    s = connection.settings_dict
    with psycopg.connect(
        dbname=s["NAME"],
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        autocommit=True,
    ) as session:
        yield session


def hold(session: psycopg.Connection, name: str) -> None:
    row = session.execute(
        "SELECT pg_try_advisory_lock(%s)", [lock_key(name)]
    ).fetchone()
    assert row == (True,)


@pytest.mark.parametrize(
    ("task", "lock"),
    [
        (tasks.aggregate_metrics, "metrics.aggregate"),
        (tasks.compute_baselines, "metrics.baselines"),
        (tasks.clean_up_old_data, "metrics.retention"),
    ],
)
def test_a_second_concurrent_run_exits_at_once_and_says_so(
    task: object,
    lock: str,
    other_session: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hold(other_session, lock)
    caplog.set_level("INFO", logger="metrics_app.tasks")

    assert task.apply().get() is False  # type: ignore[attr-defined]

    assert f"{lock} skipped: another run holds its lock" in caplog.text


def test_the_aggregation_task_rolls_up_and_releases_its_lock(
    other_session: psycopg.Connection,
) -> None:
    service = IntegrationFactory()
    checks(service, timezone.now() - timedelta(seconds=5), ok(100), ok(200))

    assert tasks.aggregate_metrics.apply().get() is True

    assert Metric.objects.get(integration=service).total_checks == 2
    # Released: another session can take it now.
    hold(other_session, "metrics.aggregate")


def test_a_failing_job_logs_releases_its_lock_and_raises(
    other_session: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        tasks.run_exclusive("metrics.test", broken)

    assert "metrics.test failed" in caplog.text
    hold(other_session, "metrics.test")


@pytest.mark.parametrize(
    ("entry", "task", "minute", "hour"),
    [
        (
            "aggregate-hourly-metrics",
            tasks.aggregate_metrics,
            {0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55},
            set(range(24)),
        ),
        ("clean-up-old-data", tasks.clean_up_old_data, {0}, {2}),
        ("compute-baselines", tasks.compute_baselines, {0}, {3}),
    ],
)
def test_each_job_is_on_the_beat_schedule(
    entry: str, task: object, minute: set[int], hour: set[int]
) -> None:
    scheduled = BEAT_SCHEDULE[entry]

    assert scheduled["task"] == task.name  # type: ignore[attr-defined]
    assert scheduled["schedule"].minute == minute
    assert scheduled["schedule"].hour == hour


def test_the_backfill_command_rolls_up_the_hours_asked_for() -> None:
    service = IntegrationFactory()
    now = timezone.now()
    for hours_ago in (0, 3, 5):
        checks(service, now - timedelta(hours=hours_ago), ok(100))
    out = StringIO()

    call_command("aggregate_metrics", "--hours", "4", stdout=out)

    assert Metric.objects.filter(integration=service).count() == 2
    assert "2 rows inserted, 0 updated" in out.getvalue()


@pytest.mark.parametrize("hours", ["0", "-1", "9000"])
def test_the_backfill_command_refuses_a_bad_span(hours: str) -> None:
    with pytest.raises(CommandError, match="--hours must be between"):
        call_command("aggregate_metrics", "--hours", hours)


def test_the_backfill_command_waits_for_no_running_aggregation(
    other_session: psycopg.Connection,
) -> None:
    hold(other_session, "metrics.aggregate")

    with pytest.raises(CommandError, match="in progress"):
        call_command("aggregate_metrics")


def test_a_lock_that_cannot_be_released_goes_with_its_session(
    other_session: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    with advisory_lock("metrics.lost") as acquired:
        assert acquired
        # The server ends the session, as a restart or a dropped link would.
        other_session.execute(
            "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
        )

    assert "could not release lock metrics.lost" in caplog.text
    hold(other_session, "metrics.lost")
