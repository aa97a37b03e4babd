"""Every periodic job and its cadence, read by Celery beat."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "aggregate-hourly-metrics": {
        "task": "metrics_app.tasks.aggregate_metrics",
        "schedule": crontab(minute="*/5"),
        # A run queued behind a busy worker is outdone by the next one.
        "options": {"expires": 240},
    },
    "clean-up-old-data": {
        "task": "metrics_app.tasks.clean_up_old_data",
        "schedule": crontab(hour=2, minute=0),
    },
    "compute-baselines": {
        "task": "metrics_app.tasks.compute_baselines",
        "schedule": crontab(hour=3, minute=0),
    },
    "dispatch-due-checks": {
        "task": "integrations_app.dispatch_due_checks",
        "schedule": 10.0,
        "options": {"expires": 30},
    },
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
