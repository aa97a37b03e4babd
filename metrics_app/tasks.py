"""Periodic metrics jobs: thin tasks around the functions that do the work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from metrics_app import aggregation, baselines, retention
from metrics_app.locks import advisory_lock

logger = logging.getLogger(__name__)

# A lost database connection is worth a retry; bad SQL or data is not.
RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 10,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 3,
}


def run_exclusive(name: str, job: Callable[[], object]) -> bool:
    """Run the job unless another run holds its lock; return whether it ran."""
    with advisory_lock(name) as acquired:
        if not acquired:
            logger.info("%s skipped: another run holds its lock", name)
            return False
        try:
            job()
        except Exception:
            logger.exception("%s failed", name)
            raise
    return True


@shared_task(
    name="metrics_app.tasks.aggregate_metrics",
    time_limit=280,
    soft_time_limit=240,
    **RETRY,
)
def aggregate_metrics() -> bool:
    return run_exclusive("metrics.aggregate", aggregation.aggregate_recent)


@shared_task(
    name="metrics_app.tasks.compute_baselines",
    time_limit=1800,
    soft_time_limit=1700,
    **RETRY,
)
def compute_baselines() -> bool:
    return run_exclusive("metrics.baselines", baselines.compute_baselines)


@shared_task(
    name="metrics_app.tasks.clean_up_old_data",
    # Past the clean-up's own time budget, which stops it between batches.
    time_limit=int(retention.TIME_BUDGET_SECONDS) + 600,
    soft_time_limit=int(retention.TIME_BUDGET_SECONDS) + 300,
    **RETRY,
)
def clean_up_old_data() -> bool:
    return run_exclusive("metrics.retention", retention.clean_up)
