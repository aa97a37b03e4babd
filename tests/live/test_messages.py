from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from alerts_app.models import Incident
from alerts_app.signals import incident_changed
from integrations_app.models import Integration
from integrations_app.signals import announce, status_changed
from tests.integrations_app.factories import IntegrationFactory
from tests.live.conftest import connected

pytestmark = pytest.mark.django_db

CHANGED_AT = datetime.datetime(2026, 3, 1, 12, 30, 5, tzinfo=datetime.UTC)


def test_a_status_change_reaches_clients_only_after_the_commit(
    staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    integration_id = IntegrationFactory(display_name="Stripe Payments").pk

    def change_status() -> list[Any]:
        with django_capture_on_commit_callbacks() as callbacks:
            announce(
                status_changed,
                Integration,
                integration_id=integration_id,
                display_name="Stripe Payments",
                health_status="critical",
                previous_status="warning",
                changed_at=CHANGED_AT,
            )
        return list(callbacks)

    def commit(callbacks: list[Any]) -> None:
        for callback in callbacks:
            callback()

    async def scenario() -> Any:
        socket = await connected(staff)
        callbacks = await database_sync_to_async(change_status)()
        assert await socket.receive_nothing(timeout=0.3)
        await database_sync_to_async(commit)(callbacks)
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {
        "type": "status_change",
        "data": {
            "integration_id": str(integration_id),
            "display_name": "Stripe Payments",
            "health_status": "critical",
            "previous_status": "warning",
            "changed_at": "2026-03-01T12:30:05+00:00",
        },
    }


def _prepare(incident: Incident, event: str) -> None:
    now = timezone.now()
    if event == "acknowledged":
        incident.status, incident.acknowledged_at = "acknowledged", now
    elif event == "escalated":
        incident.escalation_level, incident.escalated_at = 2, now
    elif event == "suppressed":
        incident.status = "suppressed"
    elif event == "resolved":
        incident.status, incident.resolved_at = "resolved", now
        incident.resolution_note = "recovered on its own"
    incident.save()


@pytest.mark.parametrize(
    ("event", "kind", "fields", "time_field"),
    [
        (
            "opened",
            "new_alert",
            {"message": "Stripe Payments is critical", "severity": "critical"},
            "triggered_at",
        ),
        ("resolved", "alert_resolved", {"status": "resolved"}, "resolved_at"),
        ("acknowledged", "incident_updated", {"status": "acknowledged"}, None),
        ("escalated", "incident_updated", {"escalation_level": 2}, None),
        ("suppressed", "incident_updated", {"status": "suppressed"}, None),
    ],
)
def test_each_incident_event_becomes_its_message(
    staff: Any,
    incident: Incident,
    event: str,
    kind: str,
    fields: dict[str, Any],
    time_field: str | None,
) -> None:
    _prepare(incident, event)

    async def scenario() -> Any:
        socket = await connected(staff)
        await database_sync_to_async(incident_changed.send)(
            sender=Incident, incident_id=incident.pk, event=event
        )
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    message = async_to_sync(scenario)()
    data = message["data"]
    assert message["type"] == kind
    assert data["id"] == str(incident.pk)
    assert data["integration_id"] == str(incident.integration_id)
    assert data["integration_name"] == "Stripe Payments"
    assert {"status", "escalation_level"} <= data.keys()
    assert fields.items() <= data.items()
    # Every message carries the time of its change, so a client can resync.
    assert datetime.datetime.fromisoformat(data["changed_at"])
    if time_field:
        assert data[time_field] == data["changed_at"]


def test_an_acknowledgement_names_who_acknowledged(
    staff: Any, incident: Incident
) -> None:
    incident.status = "acknowledged"
    incident.acknowledged_by = staff
    incident.acknowledged_at = timezone.now()
    incident.save()

    async def scenario() -> Any:
        socket = await connected(staff)
        await database_sync_to_async(incident_changed.send)(
            sender=Incident, incident_id=incident.pk, event="acknowledged"
        )
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    data = async_to_sync(scenario)()["data"]
    assert data["acknowledged_by"] == staff.username
    assert data["changed_at"] == incident.acknowledged_at.isoformat()


@pytest.mark.parametrize(
    ("incident_id", "event"),
    [(None, "opened"), (uuid.uuid4(), "opened"), ("self", "exploded")],
)
def test_events_without_a_known_incident_or_kind_send_nothing(
    staff: Any,
    incident: Incident,
    caplog: pytest.LogCaptureFixture,
    incident_id: Any,
    event: str,
) -> None:
    target = incident.pk if incident_id == "self" else incident_id

    async def scenario() -> bool:
        socket = await connected(staff)
        await database_sync_to_async(incident_changed.send)(
            sender=Incident, incident_id=target, event=event
        )
        nothing = await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()
        return nothing

    with caplog.at_level(logging.WARNING, logger="integrations_app.live_receivers"):
        assert async_to_sync(scenario)()
    if event == "exploded":
        assert "unknown event" in caplog.text
