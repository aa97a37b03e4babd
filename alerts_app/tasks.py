"""Alerting tasks: thin wrappers that take ids and call plain functions."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from alerts_app import engine, escalation, maintenance
from alerts_app.notifications import dispatch

logger = logging.getLogger(__name__)


@shared_task(
    name="alerts.evaluate_rules",
    # A mass outage opens many incidents in one pass; overlapping passes are
    # safe because the database refuses a second live incident per pair.
    soft_time_limit=110,
    time_limit=120,
    acks_late=True,
)
def evaluate_rules() -> dict[str, int]:
    """Evaluate every active rule, then escalate what waited too long."""
    outcome = engine.evaluate_all()
    escalated = escalation.escalate_due()
    requeued = requeue_unsent()
    return {
        "opened": outcome.opened,
        "resolved": outcome.resolved,
        "escalated": escalated,
        "requeued": requeued,
    }


def requeue_unsent() -> int:
    """Queue again the notices a broker outage kept from ever being queued."""
    missing = dispatch.unsent(timezone.now())
    for incident_id, event in missing:
        notify_incident.delay(str(incident_id), event, 0)
    if missing:
        logger.warning("requeued notifications of %d incident changes", len(missing))
    return len(missing)


@shared_task(name="alerts.maintenance_tick", soft_time_limit=50, time_limit=55)
def maintenance_tick() -> dict[str, int]:
    started = time.monotonic()
    done = maintenance.tick()
    for window_id in done.notices:
        send_maintenance_notice.delay(str(window_id))
    logger.info(
        "maintenance: %d started, %d ended, %d notices in %.0f ms",
        len(done.started),
        len(done.ended),
        len(done.notices),
        (time.monotonic() - started) * 1000,
    )
    return {"started": len(done.started), "ended": len(done.ended)}


@shared_task(
    name="alerts.send_maintenance_notice",
    soft_time_limit=120,
    time_limit=130,
)
def send_maintenance_notice(window_id: str) -> int:
    return maintenance.send_notice(window_id)


@shared_task(
    bind=True,
    name="alerts.notify_incident",
    soft_time_limit=30,
    time_limit=35,
    acks_late=True,
    max_retries=3,
    autoretry_for=(Exception,),
    retry_backoff=5,
)
def notify_incident(self: Task, incident_id: str, event: str, level: int = 0) -> int:
    """Decide who hears of an incident change and queue one send per recipient."""
    chosen = dispatch.dispatch(incident_id, event, level)
    for channel, recipient in chosen:
        send_notification.delay(
            incident_id, event, channel, dispatch.fingerprint(recipient), level
        )
    return len(chosen)


def backoff(attempt: int) -> float:
    """Seconds before the next attempt: exponential with a little jitter."""
    base = settings.ALERT_NOTIFY_BACKOFF_SECONDS * 2 ** (attempt - 1)
    return float(base + random.uniform(0, base / 4))  # noqa: S311 - jitter only


@shared_task(
    bind=True,
    name="alerts.send_notification",
    soft_time_limit=30,
    time_limit=35,
    acks_late=True,
    max_retries=None,
)
def send_notification(
    self: Task,
    incident_id: str,
    event: str,
    channel: str,
    key: str,
    level: int = 0,
) -> bool:
    """Make one delivery attempt; retry with backoff while the channel allows it."""
    attempt = self.request.retries + 1
    again = dispatch.deliver(incident_id, event, channel, key, level, attempt)
    if again:
        raise self.retry(countdown=backoff(attempt))
    return True


def _task_failure(**kwargs: Any) -> None:
    """Log a task that failed for good, without its arguments."""
    sender = kwargs.get("sender")
    logger.error(
        "task %s[%s] failed: %s",
        getattr(sender, "name", sender),
        kwargs.get("task_id"),
        type(kwargs.get("exception")).__name__,
    )
