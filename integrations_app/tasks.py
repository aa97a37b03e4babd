"""Celery tasks for health checks: thin wrappers around scheduling and checks."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils.dateparse import parse_datetime

from integrations_app import scheduling

logger = logging.getLogger(__name__)

# A batch may hold checks that each wait up to the longest timeout (120 s); the
# token fetch shares that deadline, and the write comes after.
DISPATCH_EXPIRES = 30
BATCH_SOFT_LIMIT = 160
BATCH_HARD_LIMIT = 190


@shared_task(
    name="integrations_app.dispatch_due_checks",
    ignore_result=True,
    soft_time_limit=20,
    time_limit=30,
    # A dispatch still helps while the checks it would claim lie within the
    # lookahead; after that the runs behind it have claimed them.
    expires=DISPATCH_EXPIRES,
)
def dispatch_due_checks() -> int:
    try:
        # One broker connection for every batch of the run.
        with check_batch.app.producer_or_acquire() as producer:

            def send(ids: list[str], run_at: datetime, expires: datetime) -> None:
                check_batch.apply_async(
                    args=[ids, run_at.isoformat()],
                    eta=run_at,
                    expires=expires,
                    producer=producer,
                )

            claimed, _ = scheduling.dispatch(send)
    except Exception:
        logger.exception("dispatching due checks failed")
        raise
    return claimed


@shared_task(
    bind=True,
    name="integrations_app.check_batch",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=BATCH_SOFT_LIMIT,
    time_limit=BATCH_HARD_LIMIT,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=3,
)
def check_batch(self: Any, ids: list[str], due: str) -> int:
    moment = parse_datetime(due)
    if moment is None:
        logger.error("check batch dropped: due time %r is not a time", due)
        return 0
    try:
        return scheduling.run_batch(ids, moment)
    except DatabaseError as exc:
        logger.warning(
            "check batch of %d integrations failed (attempt %d): %s",
            len(ids),
            self.request.retries + 1,
            type(exc).__name__,
        )
        raise
