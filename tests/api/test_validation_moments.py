from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path, name",
    [
        ("/api/audit-log/", "since"),
        ("/api/audit-log/", "until"),
        ("/api/maintenance-windows/", "starts_after"),
        ("/api/maintenance-windows/", "ends_before"),
    ],
)
@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "yesterday", "2026-13-01"]
)
def test_a_moment_postgresql_cannot_store_is_refused_with_its_name(
    api_as: Any, manager: Any, path: str, name: str, value: str
) -> None:
    response = api_as(manager).get(path, {name: value})

    assert response.status_code == 400, response.content
    assert name in response.json()


def test_a_moment_with_a_far_offset_is_read_in_utc(api_as: Any, manager: Any) -> None:
    response = api_as(manager).get(
        "/api/audit-log/", {"since": "2026-01-01T00:00:00+22:56"}
    )

    assert response.status_code == 200
