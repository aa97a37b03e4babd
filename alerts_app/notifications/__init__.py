"""Notification channels behind one interface, and the sends they make."""

from __future__ import annotations

from alerts_app.notifications.base import (
    Channel,
    DeliveryError,
    Message,
    fingerprint,
    label,
)
from alerts_app.notifications.email import EmailChannel
from alerts_app.notifications.slack import SlackChannel
from alerts_app.notifications.sms import SmsChannel
from alerts_app.notifications.webhook import WebhookChannel

__all__ = [
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "Message",
    "SlackChannel",
    "SmsChannel",
    "WebhookChannel",
    "fingerprint",
    "label",
]
