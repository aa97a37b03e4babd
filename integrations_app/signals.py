"""Announcements other parts subscribe to; each is sent after the commit."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# integration_id, display_name, health_status, previous_status, changed_at
status_changed = Signal()


def announce(signal: Signal, sender: type, **payload: Any) -> None:
    """Send a signal once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(_send, signal, sender, payload), robust=True)


def _send(signal: Signal, sender: type, payload: dict[str, Any]) -> None:
    for receiver, result in signal.send_robust(sender=sender, **payload):
        if isinstance(result, Exception):
            logger.error(
                "receiver %s failed: %s",
                getattr(receiver, "__qualname__", receiver),
                result,
                exc_info=result,
            )
