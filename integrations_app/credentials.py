"""Which credential keys each auth type takes, and how updates keep secrets."""

from __future__ import annotations

from typing import Any

from monitor_project.sealing import Sealed

AUTH_FIELDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "api_key": ("api_key", "header_name", "query_param"),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "oauth": ("token_url", "client_id", "client_secret", "scope"),
}
ALL_AUTH_KEYS: tuple[str, ...] = tuple(
    sorted({k for keys in AUTH_FIELDS.values() for k in keys})
)

# Sent back by a client that read a secret and did not change it.
PLACEHOLDER = "********"

MAX_SECRET_LENGTH = 4096


def keeps(value: Any) -> bool:
    """Tell whether a submitted value means 'leave the stored secret alone'."""
    return value is None or value == "" or value == PLACEHOLDER


def merged(
    current: Sealed | None, updates: dict[str, Any], keep_only: tuple[str, ...]
) -> dict[str, Any]:
    """Apply submitted credential values over the stored ones, keeping unsent ones."""
    values = current.reveal() if current else {}
    for key, value in updates.items():
        if not keeps(value):
            values[key] = value
    return {key: value for key, value in values.items() if key in keep_only}


def describe(sealed: Sealed | None) -> dict[str, str]:
    """Show which keys are set, each with the placeholder, never a value."""
    return {key: PLACEHOLDER for key in (sealed.keys if sealed else [])}
