from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.live.conftest import closed_with, connected, session_cookie

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Run a change as a committed transaction, its on-commit hooks included."""

    def run(change: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return change()

    return run


def _rotate(user: Any) -> None:
    Token.objects.filter(user=user).delete()
    Token.objects.create(user=user)


def test_rotating_a_token_closes_the_sockets_opened_with_it(
    staff: Any, other_staff: Any, commit: Any
) -> None:
    cookie = session_cookie(staff)

    async def scenario() -> tuple[int, bool, bool]:
        by_token = await connected(staff)
        by_session = await connected(cookie=cookie)
        someone_else = await connected(other_staff)

        await database_sync_to_async(commit)(lambda: _rotate(staff))

        code = await closed_with(by_token)
        kept = [
            await s.receive_nothing(timeout=0.3) for s in (by_session, someone_else)
        ]
        for socket in (by_session, someone_else):
            await socket.disconnect()
        return code, kept[0], kept[1]

    assert async_to_sync(scenario)() == (4401, True, True)


def _remove_group(user: Any) -> None:
    user.groups.remove(Group.objects.get(name="staff"))


def _clear_groups(user: Any) -> None:
    user.groups.clear()


def _group_loses_user(user: Any) -> None:
    Group.objects.get(name="staff").user_set.remove(user)


def _group_emptied(user: Any) -> None:
    Group.objects.get(name="staff").user_set.clear()


def _group_deleted(user: Any) -> None:
    Group.objects.get(name="staff").delete()


def _deactivated(user: Any) -> None:
    user.is_active = False
    user.save()


def _deactivated_by_update_fields(user: Any) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def _deleted(user: Any) -> None:
    user.delete()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_remove_group, 4403),
        (_clear_groups, 4403),
        (_group_loses_user, 4403),
        (_group_emptied, 4403),
        (_group_deleted, 4403),
        (_deactivated, 4403),
        (_deactivated_by_update_fields, 4403),
        (_deleted, 4401),
    ],
)
def test_losing_the_role_closes_every_socket_of_the_user(
    staff: Any, manager: Any, commit: Any, change: Callable[[Any], None], code: int
) -> None:
    cookie = session_cookie(staff)

    async def scenario() -> tuple[list[int], bool]:
        sockets = [await connected(staff), await connected(cookie=cookie)]
        bystander = await connected(manager)

        await database_sync_to_async(commit)(lambda: change(staff))

        codes = [await closed_with(socket) for socket in sockets]
        kept = await bystander.receive_nothing(timeout=0.3)
        await bystander.disconnect()
        return codes, kept

    assert async_to_sync(scenario)() == ([code, code], True)


def _other_role_removed(user: Any) -> None:
    user.groups.remove(Group.objects.get(name="manager"))


def _last_login_saved(user: Any) -> None:
    user.save(update_fields=["last_login"])


def _role_added(user: Any) -> None:
    user.groups.add(Group.objects.get(name="superadmin"))


@pytest.mark.parametrize(
    "change", [_other_role_removed, _last_login_saved, _role_added]
)
def test_a_user_who_keeps_a_role_keeps_the_socket(
    staff: Any, commit: Any, change: Callable[[Any], None]
) -> None:
    staff.groups.add(Group.objects.get(name="manager"))

    async def scenario() -> bool:
        socket = await connected(staff)
        await database_sync_to_async(commit)(lambda: change(staff))
        kept = await socket.receive_nothing(timeout=0.3)
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from())["type"] == "pong"
        await socket.disconnect()
        return kept

    assert async_to_sync(scenario)()


def test_logging_out_closes_the_sockets_of_that_session_only(staff: Any) -> None:
    client = Client()
    client.force_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    other_session = session_cookie(staff)

    async def scenario() -> tuple[int, bool]:
        mine = await connected(cookie=cookie)
        other = await connected(cookie=other_session)
        by_token = await connected(staff)

        await database_sync_to_async(client.post)("/admin/logout/")

        code = await closed_with(mine)
        kept = await other.receive_nothing(timeout=0.3)
        kept = kept and await by_token.receive_nothing(timeout=0.1)
        await other.disconnect()
        await by_token.disconnect()
        return code, kept

    assert async_to_sync(scenario)() == (4401, True)
