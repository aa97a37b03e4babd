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

# channels-redis forgets group members after a day (group_expiry); a client
# connected longer would silently stop receiving, so membership is renewed.
GROUP_RENEW_SECONDS = 3600


class StatusConsumer(AsyncJsonWebsocketConsumer):
    """Relay status changes and incident events to one authenticated client."""

    integration_ids: set[str] | None = None
    user_group: str | None = None
    renewal: asyncio.Task[None] | None = None

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
        self.renewal = asyncio.create_task(self._renew_membership())

    async def _refuse(self, code: int) -> None:
        # Accepted first: a close before the handshake reaches the client as a
        # bare HTTP 403, and the client could not tell 4401 from 4403.
        await self.accept()
        await self.close(code=code)

    async def _join(self) -> None:
        await self.channel_layer.group_add(live.STATUS_GROUP, self.channel_name)
        if self.user_group is not None:
            await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def _renew_membership(self) -> None:
        while True:
            await asyncio.sleep(GROUP_RENEW_SECONDS)
            try:
                await self._join()
            except Exception as exc:
                logger.warning("could not renew live membership: %s", exc)

    async def disconnect(self, code: int) -> None:
        if self.renewal is not None:
            self.renewal.cancel()
        if self.user_group is None:
            return
        # Redis may be gone: the groups expire on their own then.
        with contextlib.suppress(Exception):
            await self.channel_layer.group_discard(live.STATUS_GROUP, self.channel_name)
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

    async def live_event(self, event: dict[str, Any]) -> None:
        wanted = self.integration_ids
        integration_id = event.get("integration_id")
        # Messages about no integration in particular reach every client.
        if wanted is not None and integration_id and integration_id not in wanted:
            return
        await self.send(text_data=event["text"])

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
