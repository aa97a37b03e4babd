"""What an integration may hold: shared by the admin, the API and the engine."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from integrations_app import addresses

MIN_INTERVAL_MINUTES = 1
MAX_INTERVAL_MINUTES = 1440
MIN_TIMEOUT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 120
MAX_URL_LENGTH = 2048
MAX_HEADERS = 50
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8192
MAX_BODY_LENGTH = 65536

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def check_url(value: str | None, *, required: bool = False) -> None:
    """Refuse non-http(s) URLs and hosts written as refused addresses."""
    if not value:
        if required:
            raise ValidationError("A URL is required.")
        return
    if len(value) > MAX_URL_LENGTH:
        raise ValidationError(f"At most {MAX_URL_LENGTH} characters.")
    if any(ch in value for ch in "\r\n\t\x00 "):
        raise ValidationError("A URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValidationError(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in {"http", "https"}:
        raise ValidationError("Only http and https URLs are allowed.")
    if not host:
        raise ValidationError("The URL names no host.")
    if parts.username or parts.password:
        raise ValidationError("Put credentials in the auth settings, not in the URL.")
    literal = addresses.parse_literal(host)
    if literal is not None:
        reason = addresses.refusal(literal)
        if reason:
            raise ValidationError(f"Address not allowed: {reason}.")


def check_endpoint(value: str | None) -> None:
    if not value:
        return
    if len(value) > MAX_URL_LENGTH:
        raise ValidationError(f"At most {MAX_URL_LENGTH} characters.")
    if any(ch in value for ch in "\r\n\t\x00 "):
        raise ValidationError("The path may not contain spaces or control characters.")
    if "://" in value or value.startswith("//"):
        raise ValidationError("Give a path such as /health, not a full URL.")


def check_header(name: Any, value: Any) -> None:
    if (
        not isinstance(name, str)
        or not _TOKEN.match(name)
        or len(name) > MAX_HEADER_NAME
    ):
        raise ValidationError(f"{str(name)[:40]!r} is not a valid header name.")
    if not isinstance(value, str):
        raise ValidationError(f"The value of header {name} must be text.")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValidationError(
            f"The value of header {name} may not contain CR, LF or NUL."
        )
    if len(value) > MAX_HEADER_VALUE:
        raise ValidationError(
            f"The value of header {name} is longer than {MAX_HEADER_VALUE}."
        )


def check_headers(headers: Any) -> None:
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise ValidationError("Headers must be an object of names to values.")
    if len(headers) > MAX_HEADERS:
        raise ValidationError(f"At most {MAX_HEADERS} headers.")
    for name, value in headers.items():
        check_header(name, value)


def check_response_codes(codes: Any) -> None:
    if not isinstance(codes, list | tuple) or not codes:
        raise ValidationError("Give at least one expected response code.")
    if len(codes) > 100:
        raise ValidationError("At most 100 expected response codes.")
    for code in codes:
        if (
            isinstance(code, bool)
            or not isinstance(code, int)
            or not 100 <= code <= 599
        ):
            raise ValidationError(f"{code!r} is not an HTTP status code (100-599).")


def check_timing(interval_minutes: Any, timeout_seconds: Any) -> dict[str, str]:
    """Return field errors for an interval and timeout that do not fit together."""
    errors: dict[str, str] = {}
    interval_ok = isinstance(interval_minutes, int) and not isinstance(
        interval_minutes, bool
    )
    timeout_ok = isinstance(timeout_seconds, int) and not isinstance(
        timeout_seconds, bool
    )
    if (
        not interval_ok
        or not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES
    ):
        errors["health_check_interval_minutes"] = (
            f"Between {MIN_INTERVAL_MINUTES} and {MAX_INTERVAL_MINUTES} minutes."
        )
    if (
        not timeout_ok
        or not MIN_TIMEOUT_SECONDS <= timeout_seconds <= MAX_TIMEOUT_SECONDS
    ):
        errors["timeout_seconds"] = (
            f"Between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} seconds."
        )
    elif interval_ok and timeout_seconds >= interval_minutes * 60:
        errors["timeout_seconds"] = (
            "The timeout must be shorter than the check interval."
        )
    return errors


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
