from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.layers import channel_layers
from django.test import Client
from rest_framework.authtoken.models import Token

from alerts_app.models import AlertRule, Incident
from monitor_project.asgi import application
from tests.integrations_app.factories import IntegrationFactory

ORIGIN = b"http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def keep_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the test's transaction open across consumer database calls.

    Channels closes "old" connections around each call, which ends the
    transaction a test runs in; Django's own test client skips it alike.
    """
    import channels.db

    monkeypatch.setattr(channels.db, "close_old_connections", lambda: None)


@pytest.fixture(autouse=True)
def layer(settings: Any) -> Iterator[Any]:
    """Give each test its own key space on the real Redis channel layer."""
    config = dict(settings.CHANNEL_LAYERS["default"])
    config["CONFIG"] = dict(config["CONFIG"], prefix=f"test-{uuid.uuid4().hex[:12]}")
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()
    yield channel_layers["default"]
    channel_layers.backends.clear()


class WebsocketCommunicator(ApplicationCommunicator):
    """Drive the ASGI application as one WebSocket client would.

    channels.testing would do, but importing it requires daphne.
    """

    def __init__(self, app: Any, path: str, headers: list[Any]) -> None:
        path, _, query = path.partition("?")
        scope = {
            "type": "websocket",
            "path": path,
            "query_string": query.encode(),
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(app, scope)

    async def connect(self, timeout: float = 3) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        return True, None

    async def send_to(self, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(json.dumps(data))

    async def receive_json_from(self, timeout: float = 3) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 0.5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        # The consumer leaves its groups at once but may sit in the channel
        # layer's blocking read for seconds more; a server does not wait.
        await self.wait(timeout)


def token_for(user: Any) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(
    query: str = "",
    *,
    origin: bytes | None = ORIGIN,
    cookie: bytes | None = None,
) -> WebsocketCommunicator:
    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", cookie))
    path = "/ws/status/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application, path, headers=headers)


async def connected(user: Any = None, **kwargs: Any) -> WebsocketCommunicator:
    """Open a socket for a user by token (or as given) and check it was kept open."""
    from channels.db import database_sync_to_async

    if user is not None:
        key = await database_sync_to_async(token_for)(user)
        kwargs.setdefault("query", f"token={key}")
    socket = communicator(**kwargs)
    accepted, _ = await socket.connect()
    assert accepted
    # A ping answered proves the socket was not closed right after accepting.
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=3) == {"type": "pong", "data": {}}
    return socket


async def closed_with(socket: WebsocketCommunicator, timeout: float = 3) -> int:
    """Read until the server closes the socket; return the close code."""
    while True:
        output = await socket.receive_output(timeout)
        if output["type"] == "websocket.close":
            # As a server would: tell the application the socket is gone.
            await socket.disconnect(int(output.get("code", 1000)))
            return int(output.get("code", 1000))


@pytest.fixture
def incident(db: Any) -> Incident:
    integration = IntegrationFactory(display_name="Stripe Payments")
    rule = AlertRule.objects.create(
        integration=integration,
        rule_name="Stripe down",
        alert_type="availability",
        condition_metric="health_status",
        condition_operator=">=",
        condition_threshold=2,
        severity="critical",
    )
    return Incident.objects.create(
        alert_rule=rule,
        integration=integration,
        alert_message="Stripe Payments is critical",
        severity="critical",
    )
