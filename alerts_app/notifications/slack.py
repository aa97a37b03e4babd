"""Slack through an incoming webhook URL (a secret: never logged or recorded)."""

from __future__ import annotations

from alerts_app.notifications.base import (
    Channel,
    Message,
    http_failure,
    unreachable,
)
from integrations_app import outbound

COLOURS = {
    "info": "#6e7781",
    "warning": "#9a6700",
    "critical": "#cf222e",
    "urgent": "#8b0000",
}


class SlackChannel(Channel):
    name = "slack"

    def send(self, message: Message, recipient: str) -> None:
        body = {
            "text": f"{message.subject}\n{message.text}",
            "attachments": [
                {
                    "color": COLOURS.get(message.severity, "#6e7781"),
                    "title": message.subject,
                    "text": message.text,
                }
            ],
        }
        try:
            response = outbound.request(
                "POST", recipient, json=body, timeout=10.0, follow_redirects=False
            )
        except outbound.OutboundError as exc:
            raise unreachable("slack", exc) from None
        if not 200 <= response.status_code < 300:
            raise http_failure("slack", response.status_code)
