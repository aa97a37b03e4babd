"""Every periodic job and its cadence, read by Celery beat."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "dispatch-due-checks": {
        "task": "integrations_app.dispatch_due_checks",
        "schedule": 10.0,
        "options": {"expires": 10},
    },
}

__all__ = ["BEAT_SCHEDULE", "crontab"]
