"""Email through Django's mail framework (EMAIL_URL configures the backend)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage

from alerts_app.notifications.base import Channel, DeliveryError, Message


class EmailChannel(Channel):
    name = "email"

    def send(self, message: Message, recipient: str) -> None:
        mail = EmailMessage(
            subject=message.subject[:200].replace("\n", " ").replace("\r", " "),
            body=message.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[recipient],
        )
        try:
            mail.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(
                "the mail server refused the address", retryable=False
            ) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"mail server failed ({type(exc).__name__})") from None
