"""The live status stream at /ws/status/."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from integrations_app import live
from monitor_project.roles import role_of

logger = logging.getLogger(__name__)

MAX_SUBSCRIBED = 10_000
# Messages waiting for one slow client; past this it is closed and resyncs.
OUTBOX_SIZE = 1000
CLOSE_TOO_SLOW = 1013

# channels-redis forgets group members after a day (group_expiry); a member
# connected longer would silently stop receiving, so membership is renewed.
GROUP_RENEW_SECONDS = 3600


class Relay:
    """The one member of the status group in a web process; fans out locally.

    With every socket a member of its own, each broadcast wakes every socket's
    channel-layer read, and those reads contend for one lock: the cost grows
    with the square of the sockets a process holds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: set[StatusConsumer] = set()
        self.task: asyncio.Task[None] | None = None

    async def add(self, consumer: StatusConsumer) -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            layer = consumer.channel_layer
            # The default prefix: channels-redis reads every process-local
            # channel of a layer from one key named after it.
            channel = await layer.new_channel()
            await layer.group_add(live.STATUS_GROUP, channel)
            self.task = asyncio.create_task(self._run(layer, channel))

    def discard(self, consumer: StatusConsumer) -> None:
        self.sockets.discard(consumer)

    async def _run(self, layer: Any, channel: str) -> None:
        renew_at = self.loop.time() + GROUP_RENEW_SECONDS
        failing = False
        while True:
            try:
                if failing or self.loop.time() > renew_at:
                    # Also after an outage: a restarted Redis forgot the group.
                    await layer.group_add(live.STATUS_GROUP, channel)
                    renew_at = self.loop.time() + GROUP_RENEW_SECONDS
                event = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    logger.warning("live relay lost the channel layer: %s", exc)
                failing = True
                await asyncio.sleep(1)
                continue
            if failing:
                logger.info("live relay reconnected")
                failing = False
            if event.get("type") == "live.event":
                for consumer in tuple(self.sockets):
                    consumer.deliver(event)


_relays: dict[asyncio.AbstractEventLoop, Relay] = {}


def relay() -> Relay:
    loop = asyncio.get_running_loop()
    if loop not in _relays:
        # A loop that has closed (tests run one per case) leaves its relay.
        for old in [old for old in _relays if old.is_closed()]:
            del _relays[old]
        _relays[loop] = Relay(loop)
    return _relays[loop]


class StatusConsumer(AsyncJsonWebsocketConsumer):
    """Relay status changes and incident events to one authenticated client."""

    integration_ids: set[str] | None = None
    user_group: str | None = None
    renewal: asyncio.Task[None] | None = None
    writer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(live.CLOSE_UNAUTHENTICATED)
            return
        if await database_sync_to_async(role_of)(user) is None:
            await self._refuse(live.CLOSE_FORBIDDEN)
            return

        self.user_group = live.user_group(user.pk)
        await self._join()
        await self.accept()
        self.outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
        self.writer = asyncio.create_task(self._write())
        self.renewal = asyncio.create_task(self._renew_membership())
        await relay().add(self)

    async def _refuse(self, code: int) -> None:
        # Accepted first: a close before the handshake reaches the client as a
        # bare HTTP 403, and the client could not tell 4401 from 4403.
        await self.accept()
        await self.close(code=code)

    async def _join(self) -> None:
        # Only this user's group: status messages come through the relay.
        if self.user_group is not None:
            await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def _renew_membership(self) -> None:
        while True:
            await asyncio.sleep(GROUP_RENEW_SECONDS)
            try:
                await self._join()
            except Exception as exc:
                logger.warning("could not renew live membership: %s", exc)

    def deliver(self, event: dict[str, Any]) -> None:
        wanted = self.integration_ids
        integration_id = event.get("integration_id")
        # Messages about no integration in particular reach every client.
        if wanted is not None and integration_id and integration_id not in wanted:
            return
        try:
            self.outbox.put_nowait(event["text"])
        except asyncio.QueueFull:
            relay().discard(self)
            asyncio.create_task(self.close(code=CLOSE_TOO_SLOW))  # noqa: RUF006

    async def _write(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        for task in (self.renewal, self.writer):
            if task is not None:
                task.cancel()
        if self.user_group is None:
            return
        relay().discard(self)
        # Redis may be gone: the group expires on its own then.
        with contextlib.suppress(Exception):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        elif kind == "subscribe":
            await self._subscribe(content.get("integration_ids"))
        else:
            await self._error("unknown message type")

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kw: Any
    ) -> None:
        if text_data is None:
            await self._error("messages are JSON text")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self._error("messages are JSON text")
            return
        await self.receive_json(content)

    async def _error(self, detail: str) -> None:
        await self.send_json({"type": "error", "data": {"detail": detail}})

    async def _subscribe(self, raw: Any) -> None:
        if raw is None:
            self.integration_ids = None
            await self.send_json(
                {"type": "subscribed", "data": {"integration_ids": None}}
            )
            return
        if not isinstance(raw, list) or len(raw) > MAX_SUBSCRIBED:
            await self._error(
                f"integration_ids must be a list of at most {MAX_SUBSCRIBED} ids"
            )
            return
        try:
            ids = {str(uuid.UUID(str(item))) for item in raw}
        except ValueError:
            await self._error("integration_ids holds an invalid id")
            return
        self.integration_ids = ids
        await self.send_json(
            {"type": "subscribed", "data": {"integration_ids": sorted(ids)}}
        )

    async def live_revoke(self, event: dict[str, Any]) -> None:
        token = event.get("token")
        if token is not None and token != self.scope.get("auth_token"):
            return
        session = event.get("session")
        if session is not None and session != self._session_key():
            return
        await self.close(code=event.get("code") or live.CLOSE_UNAUTHENTICATED)

    def _session_key(self) -> str | None:
        if self.scope.get("auth_token"):
            return None
        session = self.scope.get("session")
        return getattr(session, "session_key", None) if session else None
