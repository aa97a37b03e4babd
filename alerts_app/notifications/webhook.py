"""A generic webhook: a JSON body signed with HMAC-SHA256 and a timestamp.

The receiver recomputes `sha256=` + HMAC-SHA256(secret, raw body) and compares
it with X-Signature; the body repeats the X-Timestamp value, so the signature
covers the timestamp and an old request replayed later can be refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from alerts_app.notifications.base import (
    Channel,
    DeliveryError,
    Message,
    http_failure,
    unreachable,
)
from integrations_app import outbound


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(Channel):
    name = "webhook"

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret

    def send(self, message: Message, recipient: str) -> None:
        if not self.secret:
            raise DeliveryError("no webhook secret is configured", retryable=False)

        timestamp = str(int(time.time()))
        document = {**message.payload, "timestamp": int(timestamp)}
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "integration-monitor",
            "X-Timestamp": timestamp,
            "X-Signature": signature(self.secret, body),
        }
        try:
            response = outbound.request(
                "POST",
                recipient,
                headers=headers,
                body=body,
                timeout=10.0,
                follow_redirects=False,
            )
        except outbound.OutboundError as exc:
            raise unreachable("webhook", exc) from None
        if not 200 <= response.status_code < 300:
            raise http_failure("webhook", response.status_code)
