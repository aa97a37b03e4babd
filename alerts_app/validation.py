"""What an alert rule may hold: shared by the admin, the API and the engine."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from alerts_app.models import OPERATORS, SEVERITIES, Channel, Metric
from integrations_app import addresses, validation

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_RECIPIENTS = 50
MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_THRESHOLD = 10**6
SLACK_HOSTS = frozenset({"hooks.slack.com"})


def kind_of(recipient: str) -> str | None:
    """Name the channel a recipient belongs to: email, sms, slack or webhook."""
    if recipient.startswith(("https://", "http://")):
        host = (urlsplit(recipient).hostname or "").lower()
        return "slack" if host in SLACK_HOSTS else "webhook"
    if recipient.startswith("+"):
        return "sms"
    if "@" in recipient:
        return "email"
    return None


def _resolve(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _allowed_network(ip: Any) -> bool:
    address = ipaddress.ip_address(ip)
    return any(
        address.version == net.version and address in net
        for net in settings.MONITOR_ALLOWED_NETWORKS
    )


def check_url_recipient(value: str) -> None:
    """Admit https URLs, and plain http only to an allowed private network."""
    validation.check_url(value, required=True)
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return

    literal = addresses.parse_literal(host)
    if literal is not None:
        found = [str(literal)]
    else:
        try:
            found = _resolve(host)
        except (OSError, UnicodeError):
            raise ValidationError(
                f"{host} does not resolve; plain http needs an address that "
                "MONITOR_ALLOWED_NETWORKS admits."
            ) from None
    if not found or not all(_allowed_network(ip) for ip in found):
        raise ValidationError(
            "Plain http is only allowed to an address inside "
            "MONITOR_ALLOWED_NETWORKS; use https."
        )


def check_recipient(value: Any) -> str:
    """Return the channel a recipient is for, or raise a clear ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("A recipient must be non-empty text.")
    if value != value.strip() or any(ch in value for ch in "\r\n\x00"):
        raise ValidationError("A recipient may not hold spaces or control characters.")
    kind = kind_of(value)
    if kind in {"slack", "webhook"}:
        check_url_recipient(value)
    elif kind == "sms":
        if not E164.match(value):
            raise ValidationError(
                f"{value[:40]!r} is not a phone number in E.164 form (+14155550100)."
            )
    elif kind == "email":
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError(f"{value[:80]!r} is not an email address.") from None
    else:
        raise ValidationError(
            f"{value[:40]!r} is neither an email address, an E.164 phone number "
            "nor an https URL."
        )
    return kind or ""


def _recipient_errors(values: Any) -> tuple[list[str], set[str]]:
    errors: list[str] = []
    kinds: set[str] = set()
    if values is None:
        return errors, kinds
    if not isinstance(values, list | tuple):
        return ["Give a list of recipients."], kinds
    if len(values) > MAX_RECIPIENTS:
        return [f"At most {MAX_RECIPIENTS} recipients."], kinds
    for value in values:
        try:
            kinds.add(check_recipient(value))
        except ValidationError as exc:
            errors.extend(exc.messages)
    return errors, kinds


def _int_in(value: Any, low: int, high: int) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    )


def rule_errors(rule: Any) -> dict[str, list[str]]:
    """Return field errors for an alert rule (a model instance or similar object)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if rule.condition_metric not in Metric.values:
        add("condition_metric", f"Choose one of {', '.join(Metric.values)}.")
    if rule.condition_operator not in OPERATORS:
        add("condition_operator", f"Choose one of {' '.join(OPERATORS)}.")
    if rule.severity not in SEVERITIES:
        add("severity", f"Choose one of {', '.join(SEVERITIES)}.")
    threshold = rule.condition_threshold
    if not validation.finite(threshold) or abs(float(threshold)) >= MAX_THRESHOLD:
        add("condition_threshold", f"A finite number below {MAX_THRESHOLD}.")
    if not _int_in(rule.condition_duration_minutes, 0, MAX_DURATION_MINUTES):
        add("condition_duration_minutes", f"Between 0 and {MAX_DURATION_MINUTES}.")
    if not _int_in(rule.cooldown_minutes, 0, MAX_DURATION_MINUTES):
        add("cooldown_minutes", f"Between 0 and {MAX_DURATION_MINUTES}.")
    if not _int_in(rule.escalation_after_minutes, 1, MAX_DURATION_MINUTES):
        add("escalation_after_minutes", f"Between 1 and {MAX_DURATION_MINUTES}.")

    days = rule.business_days
    if (
        not isinstance(days, list | tuple)
        or not days
        or not all(_int_in(day, 1, 7) for day in days)
    ):
        add("business_days", "Give days from 1 (Monday) to 7 (Sunday).")

    channels = rule.notification_channels or []
    unknown = [c for c in channels if c not in Channel.values]
    if unknown:
        add("notification_channels", f"Unknown channel {unknown[0]!r}.")

    messages, kinds = _recipient_errors(rule.notification_recipients)
    for message in messages:
        add("notification_recipients", message)
    if not messages:
        for channel in ("email", "sms"):
            if channel in channels and channel not in kinds:
                add(
                    "notification_recipients",
                    f"The {channel} channel needs at least one "
                    f"{'email address' if channel == 'email' else 'phone number'}.",
                )
        if "webhook" in channels and "webhook" not in kinds:
            add("notification_recipients", "The webhook channel needs a URL.")
        if (
            "slack" in channels
            and "slack" not in kinds
            and not settings.SLACK_WEBHOOK_URL
        ):
            add(
                "notification_recipients",
                "The slack channel needs a hooks.slack.com URL "
                "(or SLACK_WEBHOOK_URL set).",
            )

    messages, _ = _recipient_errors(rule.escalation_recipients)
    for message in messages:
        add("escalation_recipients", message)
    if rule.escalation_enabled and not rule.escalation_recipients:
        add("escalation_recipients", "Escalation needs at least one recipient.")

    secret = rule.webhook_secret
    if "webhook" in channels and not secret and not settings.ALERT_WEBHOOK_SECRET:
        add(
            "webhook_secret",
            "The webhook channel signs its bodies: set a secret here or "
            "ALERT_WEBHOOK_SECRET.",
        )
    if secret:
        try:
            value = secret.reveal().get("secret")
        except Exception:
            value = None
        if not isinstance(value, str) or not 16 <= len(value) <= 512:
            add("webhook_secret", "A secret of 16 to 512 characters.")
    return errors
