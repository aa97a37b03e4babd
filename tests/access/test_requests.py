"""Requests take their user's role for their transaction, and leave nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from integrations_app.models import SystemConfig
from monitor_project import access
from monitor_project.roles import SYSTEM
from tests.access import urls

pytestmark = pytest.mark.urls("tests.access.urls")

EVERYONE = {"staff", "manager", "superadmin"}
MANAGERS = {"manager", "superadmin"}
SEES = {
    "integrations": EVERYONE,
    "alert_rules": MANAGERS,
    "incidents": EVERYONE,
    "system_config": MANAGERS,
}


def expected(role: str) -> dict[str, int]:
    with access.as_system():
        everything = {
            name: model._default_manager.count() for name, model in urls.COUNTED.items()
        }
    return {name: everything[name] if role in SEES[name] else 0 for name in SEES}


def counts(answer: dict[str, Any]) -> dict[str, int]:
    return {name: answer[name] for name in SEES}


def connection_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.role', true)")
        return str(cursor.fetchone()[0])


def as_the_web_process() -> Any:
    """Start from nobody, as every connection of the web process does."""
    return access.acting_as(None)


def ask(api_as: Any, people: dict[str, Any], role: str | None) -> dict[str, Any]:
    client = APIClient() if role is None else api_as(people[role])
    response = client.get("/census/")
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["staff", "manager", "superadmin", "", None])
def test_a_token_request_sees_what_its_user_role_may(
    world: dict[str, Any], api_as: Any, people: dict[str, Any], role: str | None
) -> None:
    with as_the_web_process():
        answer = ask(api_as, people, role)

    assert counts(answer) == expected(role or "")
    assert answer["role"] == (role or "")
    if role:
        assert answer["user_id"] == str(people[role].pk)


ORDERS = [
    ["staff", "manager", "staff", None, "manager", "", "superadmin", "staff"],
    ["manager", None, "manager", "staff", "superadmin", "", "staff", "manager"],
]


def check_one_connection_serves_every_role(
    api_as: Any, people: dict[str, Any], order: list[str | None]
) -> None:
    pids = set()
    with as_the_web_process():
        for role in order:
            answer = ask(api_as, people, role)
            pids.add(answer["pid"])
            assert answer["role"] == (role or "")
            assert counts(answer) == expected(role or "")

    assert len(pids) == 1
    assert connection_role() == SYSTEM


@pytest.mark.django_db
@pytest.mark.parametrize("order", ORDERS)
def test_the_next_request_on_a_reused_connection_sees_only_its_own_role(
    world: dict[str, Any], api_as: Any, people: dict[str, Any], order: list[str | None]
) -> None:
    check_one_connection_serves_every_role(api_as, people, order)


@pytest.mark.django_db
def test_a_session_request_takes_the_role_of_the_logged_in_user(
    world: dict[str, Any], staff: Any, manager: Any
) -> None:
    client = Client()
    answers = []
    with as_the_web_process():
        for user in (staff, manager, staff):
            client.force_login(user)
            answers.append(client.get("/session-census/").json())
        client.logout()
        answers.append(client.get("/session-census/").json())

    assert [a["role"] for a in answers] == ["staff", "manager", "staff", ""]
    assert [a["alert_rules"] > 0 for a in answers] == [False, True, False, False]
    assert answers[0]["integrations"] > 0
    assert answers[3]["integrations"] == 0


@pytest.mark.django_db
def test_a_request_that_fails_keeps_none_of_its_writes(manager: Any) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(manager)

    response = client.get("/failing-write/")

    assert response.status_code == 500
    assert not SystemConfig.objects.filter(config_key="half_written").exists()


@pytest.mark.django_db
def test_a_task_run_within_a_staff_request_still_acts_as_the_system(
    world: dict[str, Any], api_as: Any, staff: Any
) -> None:
    answer = api_as(staff).get("/task-census/").json()

    assert answer["by_task"] == 2
    assert answer["alert_rules"] == 0
    assert answer["role"] == "staff"


def test_a_request_without_credentials_needs_no_database(client: Client) -> None:
    # No django_db mark: any query, or even a connection, would fail the test.
    response = client.get("/census-free/")

    assert response.status_code == 200
