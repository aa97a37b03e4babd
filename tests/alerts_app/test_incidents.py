from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from alerts_app import incidents
from alerts_app.incidents import IncidentConflict, InvalidTransition
from alerts_app.models import Incident
from alerts_app.signals import incident_changed
from integrations_app.models import AuditEvent
from tests.alerts_app.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard() -> Any:
    events: list[tuple[str, str]] = []

    def listen(sender: Any, incident_id: str, event: str, **kwargs: Any) -> None:
        events.append((incident_id, event))

    incident_changed.connect(listen, weak=False, dispatch_uid="test-listener")
    yield events
    incident_changed.disconnect(dispatch_uid="test-listener")


def test_acknowledge_records_who_and_when_and_is_announced_after_commit(
    staff: Any, heard: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    incident = IncidentFactory()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incidents.acknowledge(incident.pk, staff)
        assert heard == []

    for callback in callbacks:
        callback()
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.acknowledged_by == staff
    assert incident.acknowledged_at is not None
    assert (str(incident.pk), "acknowledged") in heard
    event = AuditEvent.objects.get(object_id=str(incident.pk), action="acknowledge")
    assert event.actor == staff
    assert event.details["status"] == ["open", "acknowledged"]


def test_acknowledging_an_incident_someone_else_acknowledged_is_a_conflict(
    staff: Any, other_staff: Any
) -> None:
    incident = IncidentFactory()
    incidents.acknowledge(incident.pk, staff)

    with pytest.raises(IncidentConflict) as caught:
        incidents.acknowledge(incident.pk, other_staff)

    assert caught.value.by == staff.username
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1


def test_acknowledging_twice_by_the_same_user_changes_nothing(staff: Any) -> None:
    incident = IncidentFactory()
    first = incidents.acknowledge(incident.pk, staff)

    second = incidents.acknowledge(incident.pk, staff)

    assert second.acknowledged_at == first.acknowledged_at
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1


@pytest.mark.parametrize("status", ["resolved", "suppressed"])
def test_only_an_open_incident_can_be_acknowledged(staff: Any, status: str) -> None:
    incident = IncidentFactory(status=status)

    with pytest.raises(InvalidTransition):
        incidents.acknowledge(incident.pk, staff)


@pytest.mark.parametrize("status", ["open", "acknowledged"])
def test_resolve_keeps_the_note_who_and_the_duration(manager: Any, status: str) -> None:
    incident = IncidentFactory(status=status)

    resolved = incidents.resolve(incident.pk, manager, "  Restarted the pool.  ")

    assert resolved.status == "resolved"
    assert resolved.resolved_by == manager
    assert resolved.resolution_note == "Restarted the pool."
    assert resolved.duration_minutes is not None
    assert AuditEvent.objects.filter(action="resolve", actor=manager).count() == 1


@pytest.mark.parametrize("note", [123, "x" * 5001])
def test_resolve_refuses_a_bad_note(manager: Any, note: Any) -> None:
    incident = IncidentFactory()

    with pytest.raises(InvalidTransition):
        incidents.resolve(incident.pk, manager, note)

    incident.refresh_from_db()
    assert incident.status == "open"


def test_a_resolved_incident_cannot_be_resolved_again(manager: Any) -> None:
    incident = IncidentFactory(status="resolved")

    with pytest.raises(InvalidTransition):
        incidents.resolve(incident.pk, manager, "again")


def test_suppress_moves_a_live_incident_aside(
    manager: Any, heard: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    incident = IncidentFactory()

    with django_capture_on_commit_callbacks(execute=True):
        incidents.suppress(incident.pk, manager, "Known issue upstream")

    incident.refresh_from_db()
    assert incident.status == "suppressed"
    assert heard == [(str(incident.pk), "suppressed")]
    with pytest.raises(InvalidTransition):
        incidents.suppress(incident.pk, manager, "again")


@pytest.mark.django_db(transaction=True)
def test_two_users_acknowledging_at_once_one_wins_with_one_audit_entry(
    staff: Any, other_staff: Any
) -> None:
    incident = IncidentFactory()
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def worker(user: Any) -> None:
        try:
            barrier.wait(timeout=10)
            results[user.username] = incidents.acknowledge(incident.pk, user)
        except IncidentConflict as exc:
            results[user.username] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in (staff, other_staff)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes == ["Incident", "IncidentConflict"]
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1
    assert Incident.objects.get(pk=incident.pk).status == "acknowledged"
