from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from integrations_app import live
from tests.live.conftest import (
    closed_with,
    communicator,
    connected,
    session_cookie,
    token_for,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query", ["", "token=", "token=0123456789abcdef", "token=%00%ff", "token=a&token=b"]
)
def test_it_closes_sockets_without_valid_credentials_with_4401(query: str) -> None:
    async def scenario() -> int:
        socket = communicator(query)
        accepted, _ = await socket.connect()
        assert accepted
        return await closed_with(socket)

    assert async_to_sync(scenario)() == 4401


def test_it_closes_sockets_of_inactive_users_with_4401(staff: Any) -> None:
    key = token_for(staff)
    staff.is_active = False
    staff.save()

    async def scenario() -> int:
        socket = communicator(f"token={key}")
        await socket.connect()
        return await closed_with(socket)

    assert async_to_sync(scenario)() == 4401


def test_it_closes_sockets_of_users_without_a_role_with_4403(nobody: Any) -> None:
    key = token_for(nobody)

    async def scenario() -> int:
        socket = communicator(f"token={key}")
        await socket.connect()
        return await closed_with(socket)

    assert async_to_sync(scenario)() == 4403


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example.com",
        b"https://127.0.0.1.evil.example.com",
        b"null",
        b"http://",
        b"file://",
        b"http://[::1",
        b"http://127.0.0.1:8000@evil.example.com",
    ],
)
def test_it_refuses_foreign_origins_with_4403(staff: Any, origin: bytes) -> None:
    key = token_for(staff)

    async def scenario() -> int:
        socket = communicator(f"token={key}", origin=origin)
        await socket.connect()
        return await closed_with(socket)

    assert async_to_sync(scenario)() == 4403


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:8000",
        b"https://localhost",
        b"http://[::1]:8000",
        b"https://dashboard.example.com",
        None,
    ],
)
def test_it_accepts_origins_of_allowed_hosts_or_listed_ones(
    settings: Any, staff: Any, origin: bytes | None
) -> None:
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://dashboard.example.com"]

    async def scenario() -> None:
        socket = await connected(staff, origin=origin)
        await socket.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("role", ["staff", "manager", "superadmin"])
def test_every_role_may_subscribe(request: pytest.FixtureRequest, role: str) -> None:
    user = request.getfixturevalue(role)

    async def scenario() -> None:
        socket = await connected(user)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_a_superuser_without_groups_may_subscribe(django_user_model: Any) -> None:
    root = django_user_model.objects.create_superuser("root", password="pw-root-1")

    async def scenario() -> None:
        socket = await connected(root)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_it_authenticates_by_session_cookie(manager: Any) -> None:
    cookie = session_cookie(manager)

    async def scenario() -> None:
        socket = await connected(cookie=cookie)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_a_forged_session_cookie_is_closed_with_4401() -> None:
    async def scenario() -> int:
        socket = communicator(cookie=b"sessionid=forged0000000000000000000000")
        await socket.connect()
        return await closed_with(socket)

    assert async_to_sync(scenario)() == 4401


@pytest.mark.parametrize(
    ("sent", "detail"),
    [
        ("not json", "messages are JSON text"),
        ('{"type": "dance"}', "unknown message type"),
        ("[1, 2]", "unknown message type"),
        ('"ping"', "unknown message type"),
        ('{"type": "subscribe", "integration_ids": "all"}', "must be a list"),
        ('{"type": "subscribe", "integration_ids": [1]}', "invalid id"),
        ('{"type": "subscribe", "integration_ids": ["../x"]}', "invalid id"),
        ('{"type": "subscribe", "integration_ids": [{"a": 1}]}', "invalid id"),
    ],
)
def test_it_answers_malformed_messages_with_an_error_and_stays_open(
    staff: Any, sent: str, detail: str
) -> None:
    async def scenario() -> dict[str, Any]:
        socket = await connected(staff)
        await socket.send_to(text_data=sent)
        answer = await socket.receive_json_from(timeout=3)
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=3))["type"] == "pong"
        await socket.disconnect()
        return answer

    answer = async_to_sync(scenario)()
    assert answer["type"] == "error"
    assert detail in answer["data"]["detail"]


def test_it_refuses_oversized_subscriptions(staff: Any) -> None:
    ids = [str(uuid.uuid4()) for _ in range(10_001)]

    async def scenario() -> dict[str, Any]:
        socket = await connected(staff)
        await socket.send_json_to({"type": "subscribe", "integration_ids": ids})
        answer = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return answer

    assert async_to_sync(scenario)()["type"] == "error"


def test_a_subscription_narrows_the_stream_to_the_integrations_named(
    staff: Any,
) -> None:
    wanted, other = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario() -> list[dict[str, Any]]:
        socket = await connected(staff)
        await socket.send_json_to(
            {"type": "subscribe", "integration_ids": [wanted.upper()]}
        )
        confirmed = await socket.receive_json_from(timeout=3)
        assert confirmed == {
            "type": "subscribed",
            "data": {"integration_ids": [wanted]},
        }
        send = database_sync_to_async(live.broadcast)
        await send("status_change", {"integration_id": other, "health_status": "x"})
        await send("status_change", {"integration_id": wanted, "health_status": "y"})
        await send("maintenance", {"note": "messages without an integration pass"})
        received = [await socket.receive_json_from(timeout=3) for _ in range(2)]
        assert await socket.receive_nothing(timeout=0.3)

        await socket.send_json_to({"type": "subscribe", "integration_ids": None})
        await socket.receive_json_from(timeout=3)
        await send("status_change", {"integration_id": other, "health_status": "z"})
        received.append(await socket.receive_json_from(timeout=3))
        await socket.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert [m["data"].get("health_status") for m in received] == ["y", None, "z"]


def test_a_broadcast_reaches_every_connected_client(
    staff: Any, manager: Any, superadmin: Any
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        sockets = [await connected(user) for user in (staff, manager, superadmin)]
        await database_sync_to_async(live.broadcast)(
            "status_change", {"integration_id": uuid.UUID(int=7)}
        )
        received = [await s.receive_json_from(timeout=3) for s in sockets]
        for socket in sockets:
            await socket.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert (
        received
        == [
            {
                "type": "status_change",
                "data": {"integration_id": "00000000-0000-0000-0000-000000000007"},
            }
        ]
        * 3
    )
