"""The three roles, read from Django groups; a superuser counts as superadmin."""

from __future__ import annotations

from typing import Any

STAFF = "staff"
MANAGER = "manager"
SUPERADMIN = "superadmin"
SYSTEM = "system"

# Highest first, so a user in several groups takes the strongest role.
ROLES = (SUPERADMIN, MANAGER, STAFF)
ANY_ROLE = frozenset(ROLES)
MANAGERS = frozenset({MANAGER, SUPERADMIN})
SUPERADMINS = frozenset({SUPERADMIN})


def role_of(user: Any) -> str | None:
    """Return the strongest role of a user, or None for no role at all."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not user.is_active:
        return None
    if user.is_superuser:
        return SUPERADMIN

    if hasattr(user, "_monitor_role"):
        cached: str | None = user._monitor_role
        return cached

    names = set(user.groups.values_list("name", flat=True))
    role = next((r for r in ROLES if r in names), None)
    user._monitor_role = role
    return role


def has_role(user: Any, allowed: frozenset[str]) -> bool:
    return role_of(user) in allowed
