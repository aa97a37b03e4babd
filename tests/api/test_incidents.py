from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from alerts_app.models import Incident
from integrations_app.models import AuditEvent
from tests.api.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def url(incident: Incident, verb: str) -> str:
    return f"/api/incidents/{incident.pk}/{verb}/"


def test_acknowledging_records_who_and_when(api_as: Any, staff: Any) -> None:
    incident = IncidentFactory()

    response = api_as(staff).post(url(incident, "acknowledge"))

    assert response.status_code == 200, response.data
    assert response.data["status"] == "acknowledged"
    assert response.data["acknowledged_by"] == staff.username
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1


def test_acknowledging_one_someone_else_holds_is_a_conflict_naming_them(
    api_as: Any, staff: Any, other_staff: Any
) -> None:
    incident = IncidentFactory()
    api_as(other_staff).post(url(incident, "acknowledge"))

    response = api_as(staff).post(url(incident, "acknowledge"))

    assert response.status_code == 409
    assert response.data["acknowledged_by"] == other_staff.username
    assert other_staff.username in response.data["detail"]


def test_acknowledging_twice_by_the_same_person_changes_nothing(
    api_as: Any, staff: Any
) -> None:
    incident = IncidentFactory()
    client = api_as(staff)

    first = client.post(url(incident, "acknowledge"))
    second = client.post(url(incident, "acknowledge"))

    assert first.status_code == second.status_code == 200
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_acknowledgements_at_once_leave_one_and_one_audit_event(
    api_as: Any, staff: Any, other_staff: Any
) -> None:
    incident = IncidentFactory()
    clients = [api_as(staff), api_as(other_staff)]
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def acknowledge(client: Any) -> None:
        barrier.wait()
        try:
            answers.append(client.post(url(incident, "acknowledge")).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=acknowledge, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [200, 409]
    assert AuditEvent.objects.filter(action="acknowledge").count() == 1
    incident.refresh_from_db()
    assert incident.status == "acknowledged"


@pytest.mark.parametrize(
    ("state", "holder", "expected"),
    [
        ("open", None, 200),
        ("acknowledged", "self", 200),
        ("acknowledged", "other", 403),
        ("suppressed", None, 403),
    ],
)
def test_staff_resolve_only_open_ones_or_those_they_acknowledged(
    api_as: Any,
    staff: Any,
    other_staff: Any,
    state: str,
    holder: str | None,
    expected: int,
) -> None:
    who = {"self": staff, "other": other_staff, None: None}[holder]
    incident = IncidentFactory(status=state, acknowledged_by=who)

    response = api_as(staff).post(
        url(incident, "resolve"), {"resolution_note": "fixed"}, format="json"
    )

    assert response.status_code == expected, response.data
    incident.refresh_from_db()
    assert (incident.status == "resolved") == (expected == 200)
    if holder == "other":
        assert other_staff.username in response.data["detail"]


def test_a_manager_resolves_one_someone_else_acknowledged(
    api_as: Any, manager: Any, staff: Any
) -> None:
    incident = IncidentFactory(status="acknowledged", acknowledged_by=staff)

    response = api_as(manager).post(
        url(incident, "resolve"), {"resolution_note": "rolled back"}, format="json"
    )

    assert response.status_code == 200
    assert response.data["resolved_by"] == manager.username
    assert response.data["resolution_note"] == "rolled back"


def test_resolving_a_resolved_incident_is_a_conflict(api_as: Any, manager: Any) -> None:
    incident = IncidentFactory(status="resolved")

    response = api_as(manager).post(url(incident, "resolve"), {}, format="json")

    assert response.status_code == 409


@pytest.mark.parametrize("note", ["x" * 10001, {"a": 1}, ["a"]])
def test_a_bad_resolution_note_is_a_field_error(
    api_as: Any, manager: Any, note: Any
) -> None:
    incident = IncidentFactory()

    response = api_as(manager).post(
        url(incident, "resolve"), {"resolution_note": note}, format="json"
    )

    assert response.status_code == 400
    assert "resolution_note" in response.data
    incident.refresh_from_db()
    assert incident.status == "open"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "resolved"),
        ("severity", "info"),
        ("acknowledged_by", 1),
        ("resolved_at", "2020-01-01T00:00:00Z"),
        ("escalation_level", 5),
        ("alert_message", "rewritten"),
        ("trigger_value", "1.0"),
        ("integration", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_a_manager_edit_cannot_move_the_lifecycle(
    api_as: Any, manager: Any, field: str, value: Any
) -> None:
    incident = IncidentFactory()

    response = api_as(manager).patch(
        f"/api/incidents/{incident.pk}/", {field: value}, format="json"
    )

    assert response.status_code == 200
    fresh = Incident.objects.get(pk=incident.pk)
    assert (fresh.status, fresh.severity, fresh.escalation_level) == (
        "open",
        "critical",
        0,
    )
    assert fresh.acknowledged_by is None and fresh.resolved_at is None
    assert fresh.alert_message == incident.alert_message
    assert fresh.integration_id == incident.integration_id


def test_the_list_filters_by_status_severity_and_integration(
    api_as: Any, staff: Any
) -> None:
    wanted = IncidentFactory(severity="urgent")
    IncidentFactory(severity="urgent", status="resolved")
    IncidentFactory(severity="info")

    response = api_as(staff).get(
        f"/api/incidents/?status=open&severity=urgent&integration={wanted.integration_id}"
    )

    assert [r["id"] for r in response.data["results"]] == [str(wanted.pk)]


def test_staff_acknowledge_through_the_browsable_api_with_csrf(staff: Any) -> None:
    incident = IncidentFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)

    page = browser.get(url(incident, "acknowledge"), HTTP_ACCEPT="text/html")
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()
    )
    refused = browser.post(url(incident, "acknowledge"), HTTP_ACCEPT="application/json")
    assert token is not None
    accepted = browser.post(
        url(incident, "acknowledge"),
        {"csrfmiddlewaretoken": token.group(1)},
        HTTP_ACCEPT="application/json",
    )

    assert page.status_code == 405
    assert b"acknowledge" in page.content.lower()
    assert refused.status_code == 403
    assert accepted.status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_by == staff
