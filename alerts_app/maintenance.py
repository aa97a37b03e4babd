"""Maintenance windows: start and end them on time, and send advance notices."""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.utils import timezone

from alerts_app import engine, incidents, quota
from alerts_app.models import (
    AlertRule,
    Incident,
    IncidentStatus,
    MaintenanceStatus,
    MaintenanceWindow,
)
from alerts_app.notifications.base import Message, label
from alerts_app.notifications.dispatch import channel_for, targets
from integrations_app import audit

logger = logging.getLogger(__name__)

_APPROVED = Q(requires_approval=False) | Q(approved_at__isnull=False)


@dataclass
class Tick:
    started: list[Any] = field(default_factory=list)
    ended: list[Any] = field(default_factory=list)
    notices: list[Any] = field(default_factory=list)


def _start(window_id: Any, now: datetime.datetime) -> bool:
    with transaction.atomic():
        moved = MaintenanceWindow.objects.filter(
            _APPROVED,
            pk=window_id,
            status=MaintenanceStatus.SCHEDULED,
            scheduled_start__lte=now,
            scheduled_end__gt=now,
        ).update(status=MaintenanceStatus.IN_PROGRESS, actual_start=now, updated_at=now)
        if moved:
            window = MaintenanceWindow.objects.get(pk=window_id)
            audit.record(None, "start", window, {"actual_start": now})
    return bool(moved)


def _end(window_id: Any, now: datetime.datetime) -> list[Any]:
    """Complete a window, close what it muted, and return its integrations."""
    with transaction.atomic():
        moved = MaintenanceWindow.objects.filter(
            pk=window_id, status=MaintenanceStatus.IN_PROGRESS
        ).update(status=MaintenanceStatus.COMPLETED, actual_end=now, updated_at=now)
        if not moved:
            return []
        window = MaintenanceWindow.objects.get(pk=window_id)
        audit.record(None, "complete", window, {"actual_end": now})
        muted = Incident.objects.filter(
            suppressed_by_window_id=window_id,
            status=IncidentStatus.SUPPRESSED,
            resolved_at__isnull=True,
        ).values_list("id", flat=True)
        for incident_id in list(muted):
            incidents.auto_resolve(
                incident_id, now, f"Maintenance window {window.title!r} ended."
            )
        return list(window.affected_integrations.values_list("id", flat=True))


def tick(now: datetime.datetime | None = None) -> Tick:
    """Move windows through their lifecycle; idempotent, safe to run twice at once."""
    now = now or timezone.now()
    done = Tick()

    ending = MaintenanceWindow.objects.filter(
        status=MaintenanceStatus.IN_PROGRESS, scheduled_end__lte=now
    ).values_list("id", flat=True)
    for window_id in list(ending):
        try:
            integration_ids = _end(window_id, now)
        except Exception:
            logger.exception("maintenance window %s: ending failed", window_id)
            continue
        done.ended.append(window_id)
        if integration_ids:
            # A condition that still holds opens a normal incident at once.
            engine.evaluate(integration_ids, now)

    starting = MaintenanceWindow.objects.filter(
        _APPROVED,
        status=MaintenanceStatus.SCHEDULED,
        scheduled_start__lte=now,
        scheduled_end__gt=now,
    ).values_list("id", flat=True)
    for window_id in list(starting):
        try:
            if _start(window_id, now):
                done.started.append(window_id)
        except Exception:
            logger.exception("maintenance window %s: starting failed", window_id)

    noticing = MaintenanceWindow.objects.filter(
        _APPROVED,
        status=MaintenanceStatus.SCHEDULED,
        notify_users=True,
        notifications_sent=False,
        scheduled_end__gt=now,
        scheduled_start__lte=ExpressionWrapper(
            Value(now)
            + Value(datetime.timedelta(hours=1)) * F("notification_advance_hours"),
            output_field=DateTimeField(),
        ),
    ).values_list("id", flat=True)
    for window_id in list(noticing):
        # Claim the notice first: two schedulers never send it twice.
        claimed = MaintenanceWindow.objects.filter(
            pk=window_id, notifications_sent=False
        ).update(notifications_sent=True, updated_at=now)
        if claimed:
            done.notices.append(window_id)

    quota.forget_before(now - datetime.timedelta(hours=2))
    return done


def notice_targets(window: MaintenanceWindow) -> list[tuple[str, str, AlertRule]]:
    """The recipients of the rules watching a window's integrations, SMS aside."""
    ids = list(window.affected_integrations.values_list("id", flat=True))
    rules = AlertRule.objects.filter(is_active=True).filter(
        Q(integration_id__in=ids) | Q(integration__isnull=True)
    )
    found: dict[tuple[str, str], AlertRule] = {}
    for rule in rules:
        channels = set(rule.notification_channels) - {"sms"}
        for kind, recipient in targets(rule.notification_recipients, channels, "info"):
            found.setdefault((kind, recipient), rule)
    return [(kind, recipient, rule) for (kind, recipient), rule in found.items()]


def send_notice(window_id: Any) -> int:
    """Tell the people who watch a window's integrations that it is coming."""
    started = time.monotonic()
    window = MaintenanceWindow.objects.filter(pk=window_id).first()
    if window is None or window.status != MaintenanceStatus.SCHEDULED:
        return 0
    names = ", ".join(
        sorted(window.affected_integrations.values_list("display_name", flat=True))
    )
    start = timezone.localtime(window.scheduled_start)
    end = timezone.localtime(window.scheduled_end)
    message = Message(
        subject=f"Planned maintenance: {window.title}",
        text=(
            f"{window.title} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M %Z}. "
            f"Affected: {names}. Expected impact: {window.expected_impact}. "
            f"{window.impact_description or ''}"
        ).strip(),
        severity="info",
        payload={
            "event": "maintenance_scheduled",
            "maintenance_window": {
                "id": str(window.pk),
                "title": window.title,
                "scheduled_start": window.scheduled_start.isoformat(),
                "scheduled_end": window.scheduled_end.isoformat(),
                "affected_integrations": names,
                "expected_impact": window.expected_impact,
            },
        },
    )
    sent = 0
    for kind, recipient, rule in notice_targets(window):
        try:
            channel_for(kind, rule).send(message, recipient)
            sent += 1
        except Exception as exc:
            logger.warning(
                "maintenance window %s: notice by %s to %s failed: %s",
                window.pk,
                kind,
                label(recipient),
                getattr(exc, "args", [""])[0]
                if hasattr(exc, "retryable")
                else type(exc).__name__,
            )
    logger.info(
        "maintenance window %s: advance notice sent to %d recipients in %.0f ms",
        window.pk,
        sent,
        (time.monotonic() - started) * 1000,
    )
    return sent
