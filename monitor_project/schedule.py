"""Every periodic job and its cadence, read by Celery beat."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}

__all__ = ["BEAT_SCHEDULE", "crontab"]
