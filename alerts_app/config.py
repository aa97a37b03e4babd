"""System configuration values the alerting reads, with safe fallbacks."""

from __future__ import annotations

import logging
from typing import Any

from integrations_app.models import SystemConfig

logger = logging.getLogger(__name__)

# max_escalation_level is not among the seeded keys: a superadmin adds it to
# change the limit from its default.
DEFAULTS: dict[str, int] = {
    "notification_rate_limit": 5,
    "max_escalation_level": 3,
    "alert_cooldown_minutes": 15,
}
LIMITS: dict[str, tuple[int, int]] = {
    "notification_rate_limit": (0, 10_000),
    "max_escalation_level": (0, 20),
    "alert_cooldown_minutes": (0, 10_080),
}


def number(key: str) -> int:
    """Read an integer config value; an unusable one falls back to its default."""
    raw: Any = (
        SystemConfig.objects.filter(config_key=key)
        .values_list("config_value", flat=True)
        .first()
    )
    low, high = LIMITS[key]
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = DEFAULTS[key]
        if raw is not None:
            logger.warning("config %s=%r is not a number, using %s", key, raw, value)
        return value
    if isinstance(raw, bool) or not low <= value <= high:
        logger.warning("config %s=%r out of range, using %s", key, raw, DEFAULTS[key])
        return DEFAULTS[key]
    return value
