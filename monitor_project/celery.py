"""The Celery application shared by the worker and beat processes."""

from __future__ import annotations

import os

from celery import Celery

# Connects the receivers that make workers and beat act as the system.
from monitor_project import access  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")

app = Celery("monitor_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _schedule() -> None:
    from monitor_project.schedule import BEAT_SCHEDULE

    app.conf.beat_schedule = BEAT_SCHEDULE


_schedule()
