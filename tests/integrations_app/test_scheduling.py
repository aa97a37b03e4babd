from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from django.db import connection

from integrations_app import scheduling, tasks
from integrations_app.models import HealthCheck, Integration
from monitor_project.celery import app
from monitor_project.schedule import BEAT_SCHEDULE
from tests.integrations_app.factories import IntegrationFactory

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def only_ours(request: Any) -> None:
    """Leave out the example integrations the data migration loads."""
    if "django_db" in request.keywords:
        request.getfixturevalue("django_db_setup")
        Integration.objects.all().delete()


def claimed_ids(claims: list[scheduling.Claim]) -> set[str]:
    return {c.integration_id for c in claims}


@pytest.mark.django_db
def test_it_claims_only_active_monitored_due_integrations() -> None:
    overdue = IntegrationFactory(next_check_at=NOW - timedelta(minutes=3))
    never = IntegrationFactory(next_check_at=None)
    soon = IntegrationFactory(next_check_at=NOW + timedelta(seconds=5))
    IntegrationFactory(next_check_at=NOW + timedelta(seconds=30))
    IntegrationFactory(next_check_at=NOW - timedelta(minutes=1), is_active=False)
    IntegrationFactory(next_check_at=None, monitoring_enabled=False)

    claims = scheduling.claim_due(NOW, lookahead_seconds=10)

    assert claimed_ids(claims) == {str(overdue.pk), str(never.pk), str(soon.pk)}
    run_at = {c.integration_id: c.run_at for c in claims}
    # Overdue and new ones start now; one due within the lookahead waits its turn.
    assert run_at[str(overdue.pk)] == NOW
    assert run_at[str(never.pk)] == NOW
    assert run_at[str(soon.pk)] == NOW + timedelta(seconds=5)
    assert scheduling.claim_due(NOW, lookahead_seconds=10) == []


@pytest.mark.django_db
@pytest.mark.parametrize("interval", [1, 5, 60, 1440])
def test_a_claim_moves_the_next_check_to_the_integrations_own_phase(
    interval: int,
) -> None:
    integration = IntegrationFactory(
        next_check_at=None, health_check_interval_minutes=interval
    )
    period = interval * 60

    scheduling.claim_due(NOW, lookahead_seconds=10)

    integration.refresh_from_db()
    expected = scheduling.slot_after(
        NOW + timedelta(seconds=period / 2), integration.pk, period
    )
    assert integration.next_check_at == expected
    assert timedelta(seconds=period / 2) <= integration.next_check_at - NOW
    assert integration.next_check_at - NOW <= timedelta(seconds=period * 1.5)


@pytest.mark.django_db
@pytest.mark.parametrize("late", [-40, 0, 4, 25])
def test_a_check_claimed_early_or_late_is_due_again_one_interval_after_its_slot(
    late: int,
) -> None:
    integration = IntegrationFactory(health_check_interval_minutes=1)
    slot = scheduling.slot_after(NOW, integration.pk, 60)
    Integration.objects.filter(pk=integration.pk).update(next_check_at=slot)

    scheduling.claim_due(slot + timedelta(seconds=late))

    integration.refresh_from_db()
    assert integration.next_check_at == slot + timedelta(seconds=60)


@pytest.mark.django_db
def test_a_thousand_integrations_on_one_interval_are_spread_over_it() -> None:
    IntegrationFactory.create_batch(
        1000, next_check_at=None, health_check_interval_minutes=1
    )

    scheduling.claim_due(NOW, limit=5000)

    per_second = Counter(
        Integration.objects.filter(next_check_at__isnull=False).values_list(
            "next_check_at", flat=True
        )
    )
    assert sum(per_second.values()) == 1000
    # Even spread is about 17 a second; clumping would show as far more.
    assert len(per_second) >= 55
    assert max(per_second.values()) <= 45
    # Nothing moved forward is due again until its own slot.
    assert scheduling.claim_due(NOW, limit=5000, lookahead_seconds=10) == []
    assert scheduling.claim_due(NOW + timedelta(seconds=60), limit=5000) != []


@pytest.mark.django_db
def test_shortening_the_interval_takes_effect_at_once() -> None:
    integration = IntegrationFactory(health_check_interval_minutes=1440)
    scheduling.claim_due(NOW)
    assert scheduling.claim_due(NOW + timedelta(minutes=1)) == []

    Integration.objects.filter(pk=integration.pk).update(
        health_check_interval_minutes=1
    )

    claims = scheduling.claim_due(NOW + timedelta(minutes=1))
    assert claimed_ids(claims) == {str(integration.pk)}


@pytest.mark.django_db
def test_re_enabling_monitoring_takes_effect_at_once() -> None:
    integration = IntegrationFactory(
        next_check_at=NOW - timedelta(hours=2), monitoring_enabled=False
    )
    assert scheduling.claim_due(NOW) == []

    Integration.objects.filter(pk=integration.pk).update(monitoring_enabled=True)

    assert claimed_ids(scheduling.claim_due(NOW)) == {str(integration.pk)}


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_claim_an_integration_twice() -> None:
    IntegrationFactory.create_batch(400, next_check_at=None)
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def dispatcher(now: datetime) -> None:
        try:
            start.wait()
            while claims := scheduling.claim_due(now, limit=37):
                with lock:
                    claimed.extend(c.integration_id for c in claims)
        finally:
            connection.close()

    for now in [NOW, NOW + timedelta(seconds=20)]:
        threads = [threading.Thread(target=dispatcher, args=(now,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    counts = Counter(claimed)
    assert len(counts) == 400
    assert set(counts.values()) == {1}


@pytest.mark.django_db(transaction=True)
def test_two_dispatch_runs_at_once_send_each_integration_once() -> None:
    IntegrationFactory.create_batch(200, next_check_at=None)
    sent: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def send(ids: list[str], run_at: datetime, expires: datetime) -> None:
        with lock:
            sent.extend(ids)

    def run() -> None:
        try:
            start.wait()
            scheduling.dispatch(send, NOW)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(sent) == len(set(sent)) == 200


def test_batches_group_by_start_second_and_size() -> None:
    claims = [
        scheduling.Claim(f"id{n}", NOW + timedelta(seconds=n // 5, microseconds=n), 60)
        for n in range(12)
    ]

    grouped = scheduling.batches(claims, size=3)

    assert [len(chunk) for _, chunk in grouped] == [3, 2, 3, 2, 2]
    for run_at, chunk in grouped:
        assert run_at == min(c.run_at for c in chunk)
        assert len({c.run_at.replace(microsecond=0) for c in chunk}) == 1


@pytest.mark.django_db
def test_dispatch_sends_each_batch_for_its_start_time_expiring_after_one_interval(
    settings: Any,
) -> None:
    settings.CHECK_BATCH_SIZE = 10
    IntegrationFactory.create_batch(25, next_check_at=None)
    IntegrationFactory(
        next_check_at=NOW + timedelta(seconds=7), health_check_interval_minutes=5
    )
    sent: list[tuple[list[str], datetime, datetime]] = []

    claimed, batches = scheduling.dispatch(lambda *a: sent.append(a), NOW)

    assert (claimed, batches) == (26, 4)
    assert sorted(len(ids) for ids, _, _ in sent) == [1, 5, 10, 10]
    later = [s for s in sent if s[1] > NOW]
    assert [(run_at, expires) for _, run_at, expires in later] == [
        (NOW + timedelta(seconds=7), NOW + timedelta(seconds=7, minutes=5))
    ]


@pytest.mark.django_db
def test_a_batch_checks_its_integrations_once_however_often_it_runs(
    public_dns: Any,
) -> None:
    due = datetime.now(UTC) - timedelta(seconds=1)
    checked = IntegrationFactory.create_batch(3)
    stopped = IntegrationFactory(monitoring_enabled=False)
    ids = [str(i.pk) for i in [*checked, stopped]]

    with responses.RequestsMock() as mock:
        mock.get(re.compile(r"https://api\d+\.example\.com/health"))
        first = scheduling.run_batch(ids, due)
        again = scheduling.run_batch(ids, due)

    assert (first, again) == (3, 0)
    assert HealthCheck.objects.count() == 3
    assert not HealthCheck.objects.filter(integration=stopped).exists()


@pytest.fixture
def eager() -> Any:
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db
def test_the_dispatch_task_runs_due_checks_through_the_batch_task(
    public_dns: Any, eager: None
) -> None:
    IntegrationFactory.create_batch(4, next_check_at=None)

    with responses.RequestsMock() as mock:
        mock.get(re.compile(r"https://api\d+\.example\.com/health"))
        claimed = tasks.dispatch_due_checks.apply().get()

    assert claimed == 4
    assert HealthCheck.objects.filter(check_type="automated").count() == 4


@pytest.mark.django_db
def test_a_batch_task_with_a_bad_due_time_does_nothing() -> None:
    assert tasks.check_batch.apply(args=[["x"], "not a time"]).get() == 0


def test_beat_dispatches_due_checks_every_ten_seconds() -> None:
    entry = BEAT_SCHEDULE["dispatch-due-checks"]

    assert entry["task"] == tasks.dispatch_due_checks.name
    assert entry["schedule"] == 10.0
