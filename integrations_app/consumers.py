"""The live status stream at /ws/status/."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from integrations_app import live
from monitor_project.roles import role_of

logger = logging.getLogger(__name__)

MAX_SUBSCRIBED = 10_000


class StatusConsumer(AsyncJsonWebsocketConsumer):
    """Relay status changes and incident events to one authenticated client."""

    integration_ids: set[str] | None = None
    user_group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if await database_sync_to_async(role_of)(user) is None:
            await self.close(code=4403)
            return

        self.user_group = live.user_group(user.pk)
        await self.channel_layer.group_add(live.STATUS_GROUP, self.channel_name)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.user_group is None:
            return
        await self.channel_layer.group_discard(live.STATUS_GROUP, self.channel_name)
        await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        elif kind == "subscribe":
            await self._subscribe(content.get("integration_ids"))
        else:
            await self.send_json(
                {"type": "error", "data": {"detail": "unknown message type"}}
            )

    async def _subscribe(self, raw: Any) -> None:
        if raw is None:
            self.integration_ids = None
            await self.send_json(
                {"type": "subscribed", "data": {"integration_ids": None}}
            )
            return
        if not isinstance(raw, list) or len(raw) > MAX_SUBSCRIBED:
            await self.send_json(
                {
                    "type": "error",
                    "data": {"detail": "integration_ids must be a list of ids"},
                }
            )
            return
        try:
            ids = {str(uuid.UUID(str(item))) for item in raw}
        except ValueError:
            await self.send_json(
                {
                    "type": "error",
                    "data": {"detail": "integration_ids holds an invalid id"},
                }
            )
            return
        self.integration_ids = ids
        await self.send_json(
            {"type": "subscribed", "data": {"integration_ids": sorted(ids)}}
        )

    async def live_event(self, event: dict[str, Any]) -> None:
        message = event["message"]
        wanted = self.integration_ids
        if wanted is not None:
            integration_id = message["data"].get("integration_id")
            if integration_id is not None and str(integration_id) not in wanted:
                return
        await self.send_json(message)

    async def live_revoke(self, event: dict[str, Any]) -> None:
        token = event.get("token")
        if token is None or token == self.scope.get("auth_token"):
            await self.close(code=4401)
