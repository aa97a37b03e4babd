"""Requests that own their transaction, as in production, leave nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from monitor_project.roles import SYSTEM
from tests.access import urls
from tests.access.test_requests import (
    ORDERS,
    check_one_connection_serves_every_role,
    connection_role,
    counts,
    expected,
)

pytestmark = pytest.mark.urls("tests.access.urls")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("order", ORDERS)
def test_a_request_that_owns_its_transaction_leaves_no_role_behind(
    world: dict[str, Any], api_as: Any, people: dict[str, Any], order: list[str | None]
) -> None:
    check_one_connection_serves_every_role(api_as, people, order)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["staff", "manager"])
def test_what_a_request_runs_on_commit_acts_for_its_user_then_stops(
    world: dict[str, Any], api_as: Any, people: dict[str, Any], role: str
) -> None:
    urls.SEEN_ON_COMMIT.clear()

    response = api_as(people[role]).post("/census-on-commit/")

    assert response.status_code == 200
    [seen] = urls.SEEN_ON_COMMIT
    assert seen["role"] == role
    assert counts(seen) == expected(role)
    assert connection_role() == SYSTEM
