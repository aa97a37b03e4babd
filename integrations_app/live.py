"""Broadcast of live events to WebSocket clients through the channel layer."""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

STATUS_GROUP = "status"

_failing = threading.Event()


def user_group(user_id: Any) -> str:
    return f"user-{user_id}"


def _group_send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception as exc:
        # One line when delivery stops and one when it resumes, not one per message.
        if not _failing.is_set():
            _failing.set()
            logger.warning("live updates paused, channel layer unreachable: %s", exc)
        return
    if _failing.is_set():
        _failing.clear()
        logger.info("live updates resumed")


def broadcast(kind: str, data: dict[str, Any]) -> None:
    """Send one message of the WebSocket contract to every connected client."""
    _group_send(
        STATUS_GROUP, {"type": "live.event", "message": {"type": kind, "data": data}}
    )


def revoke(user_id: Any, token: str | None = None) -> None:
    """Disconnect a user's sockets (all of them, or those opened with one token)."""
    _group_send(user_group(user_id), {"type": "live.revoke", "token": token})
