"""SMS through Twilio's REST API; only critical and urgent incidents text anyone."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.conf import settings

from alerts_app.notifications.base import (
    Channel,
    DeliveryError,
    Message,
    http_failure,
    unreachable,
)
from integrations_app import outbound

TWILIO_API = "https://api.twilio.com/2010-04-01"
MAX_BODY = 1600


class SmsChannel(Channel):
    name = "sms"

    def accepts(self, severity: str) -> bool:
        return severity in {"critical", "urgent"}

    def send(self, message: Message, recipient: str) -> None:
        sid = settings.TWILIO_ACCOUNT_SID
        token = settings.TWILIO_AUTH_TOKEN
        sender = settings.TWILIO_FROM_NUMBER
        if not (sid and token and sender):
            raise DeliveryError("Twilio is not configured", retryable=False)

        text = f"{message.subject}: {message.text}"[:MAX_BODY]
        url = f"{TWILIO_API}/Accounts/{quote(sid, safe='')}/Messages.json"
        try:
            response = outbound.request(
                "POST",
                url,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                body=urlencode(
                    {"To": recipient, "From": sender, "Body": text}
                ).encode(),
                auth=(sid, token),
                timeout=10.0,
                follow_redirects=False,
            )
        except outbound.OutboundError as exc:
            raise unreachable("twilio", exc) from None
        if not 200 <= response.status_code < 300:
            raise http_failure("twilio", response.status_code)
