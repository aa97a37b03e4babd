"""Broadcast of live events to WebSocket clients through the channel layer."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import threading
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

STATUS_GROUP = "status"

# Close codes a client sees: no valid credentials, or no role any more.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403

_failing = threading.Event()


def user_group(user_id: Any) -> str:
    return f"user-{user_id}"


def jsonable(value: Any) -> Any:
    """Turn datetimes, UUIDs and decimals into the JSON the clients receive."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def _group_send(group: str, event: dict[str, Any]) -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception as exc:
        # One line when delivery stops and one when it resumes, not one per message.
        if not _failing.is_set():
            _failing.set()
            logger.warning(
                "live updates paused, channel layer unreachable: %s: %s",
                exc.__class__.__name__,
                exc,
            )
        return False
    if _failing.is_set():
        _failing.clear()
        logger.info("live updates resumed")
    return True


def broadcast(kind: str, data: dict[str, Any]) -> bool:
    """Send one message of the WebSocket contract to every connected client."""
    data = jsonable(data)
    # Serialised once here rather than once per client in every web process.
    text = json.dumps({"type": kind, "data": data})
    event = {"type": "live.event", "text": text, "integration_id": None}
    if isinstance(data, dict) and data.get("integration_id") is not None:
        event["integration_id"] = str(data["integration_id"])
    return _group_send(STATUS_GROUP, event)


def revoke(
    user_id: Any,
    token: str | None = None,
    *,
    session: str | None = None,
    code: int = CLOSE_UNAUTHENTICATED,
) -> bool:
    """Close a user's sockets: all, or those opened with one token or session."""
    event = {"type": "live.revoke", "token": token, "session": session, "code": code}
    return _group_send(user_group(user_id), event)
