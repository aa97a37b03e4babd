"""Every periodic job and its cadence, read by Celery beat."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "alerts-evaluate-rules": {
        "task": "alerts.evaluate_rules",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "alerts-maintenance-windows": {
        "task": "alerts.maintenance_tick",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}

__all__ = ["BEAT_SCHEDULE", "crontab"]
