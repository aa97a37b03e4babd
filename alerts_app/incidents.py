"""The incident lifecycle: open, acknowledge, resolve, suppress, escalate."""

from __future__ import annotations

import datetime
import logging
import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts_app.models import AlertRule, Incident, IncidentStatus
from alerts_app.signals import incident_changed
from integrations_app import audit
from integrations_app.models import Dependency, Integration
from integrations_app.signals import announce
from monitor_project import access

logger = logging.getLogger(__name__)

LIVE = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)
MAX_NOTE = 5000


class IncidentConflict(Exception):
    """Someone else already acknowledged the incident."""

    def __init__(self, message: str, by: str = "") -> None:
        super().__init__(message)
        self.by = by


class InvalidTransition(Exception):
    """The incident's status does not allow the change asked for."""


def _notify_later(incident_id: uuid.UUID, event: str, level: int = 0) -> None:
    """Queue the notifications of a change once it has committed."""

    def queue() -> None:
        from alerts_app.tasks import notify_incident

        try:
            notify_incident.delay(str(incident_id), event, level)
        except Exception as exc:
            # The evaluation task requeues notices that were never queued.
            logger.error(
                "incident %s: could not queue %s notifications: %s",
                incident_id,
                event,
                exc,
            )

    transaction.on_commit(queue, robust=True)


def _changed(incident: Incident, event: str) -> None:
    announce(incident_changed, Incident, incident_id=str(incident.pk), event=event)


def _minutes(start: datetime.datetime, end: datetime.datetime) -> int:
    return max(0, int((end - start).total_seconds() // 60))


def _note(note: Any) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise InvalidTransition("The note must be text.")
    note = note.replace("\x00", "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidTransition(f"The note may hold at most {MAX_NOTE} characters.")
    return note or None


def _locked(incident_id: Any) -> Incident:
    return access.lock_for_update(Incident.objects, pk=incident_id)


def message_for(rule: AlertRule, integration_name: str, value: Decimal | None) -> str:
    condition = (
        f"{rule.condition_metric} {rule.condition_operator} "
        f"{rule.condition_threshold.normalize():f}"
    )
    current = "no value" if value is None else f"{value.normalize():f}"
    return f"{integration_name}: {rule.rule_name} - {condition} (current: {current})"


def dependants_of(integration_id: Any) -> list[str]:
    return sorted(
        Dependency.objects.filter(depends_on_id=integration_id, failure_propagates=True)
        .values_list("integration__display_name", flat=True)
        .distinct()
    )


def open_incident(
    rule: AlertRule,
    integration: Integration,
    value: Decimal | None,
    now: datetime.datetime,
    *,
    window_id: Any = None,
    upstream: tuple[Any, str, datetime.datetime] | None = None,
    dependants: list[str] | None = None,
) -> Incident | None:
    """Open an incident, or return None when another worker already holds one.

    In a maintenance window it opens suppressed and notifies nobody; with a
    critical upstream it names the cause and sends nothing new either.
    """
    message = message_for(rule, integration.display_name, value)
    affected: list[str] | None = None
    if upstream is not None:
        _, upstream_name, since = upstream
        message += (
            f" Probably caused by {upstream_name}, critical since "
            f"{since.astimezone(timezone.get_current_timezone()):%Y-%m-%d %H:%M %Z}."
        )
        affected = [upstream_name]
    else:
        if dependants is None:
            dependants = dependants_of(integration.pk)
        affected = dependants or None

    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                alert_rule=rule,
                integration=integration,
                triggered_at=now,
                alert_message=message,
                severity=rule.severity,
                trigger_value=value,
                threshold_value=rule.condition_threshold,
                status=IncidentStatus.SUPPRESSED if window_id else IncidentStatus.OPEN,
                suppressed_by_window_id=window_id,
                caused_by_id=upstream[0] if upstream else None,
                affected_services=affected,
                notifications_sent=[],
            )
            AlertRule.objects.filter(pk=rule.pk).update(
                last_triggered=now, trigger_count=F("trigger_count") + 1
            )
            if upstream is not None:
                _list_dependant(upstream[0], integration.display_name)
            audit.record(
                None,
                "open",
                incident,
                {
                    "rule": str(rule.pk),
                    "integration": str(integration.pk),
                    "status": incident.status,
                    "trigger_value": value,
                    "caused_by": str(upstream[0]) if upstream else None,
                    "maintenance_window": str(window_id) if window_id else None,
                },
            )
            _changed(incident, "suppressed" if window_id else "opened")
            if not window_id:
                _notify_later(incident.pk, "opened")
    except IntegrityError:
        logger.info(
            "rule %s on %s: incident already open, another worker won",
            rule.pk,
            integration.pk,
        )
        return None
    return incident


def _list_dependant(upstream_id: Any, name: str) -> None:
    """Add a dependant to the affected services of the upstream's live incidents."""
    for incident in Incident.objects.select_for_update().filter(
        integration_id=upstream_id, status__in=LIVE
    ):
        services = list(incident.affected_services or [])
        if name not in services:
            services.append(name)
            incident.affected_services = services
            incident.save(update_fields=["affected_services", "updated_at"])


def acknowledge(incident_id: Any, user: Any) -> Incident:
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.status == IncidentStatus.ACKNOWLEDGED:
            if incident.acknowledged_by_id == user.pk:
                return incident
            by = (
                incident.acknowledged_by.get_username()
                if incident.acknowledged_by
                else ""
            )
            raise IncidentConflict(
                f"Already acknowledged by {by or 'someone else'}.", by=by
            )
        if incident.status != IncidentStatus.OPEN:
            raise InvalidTransition(
                "Only an open incident can be acknowledged; "
                f"this one is {incident.status}."
            )
        before = audit.snapshot(incident)
        incident.status = IncidentStatus.ACKNOWLEDGED
        incident.acknowledged_by = user
        incident.acknowledged_at = timezone.now()
        incident.save(
            update_fields=["status", "acknowledged_by", "acknowledged_at", "updated_at"]
        )
        audit.record(
            user, "acknowledge", incident, audit.diff(before, audit.snapshot(incident))
        )
        _changed(incident, "acknowledged")
    return incident


def _close(
    incident: Incident,
    actor: Any,
    note: str | None,
    now: datetime.datetime,
    *,
    status: str = IncidentStatus.RESOLVED,
) -> None:
    before = audit.snapshot(incident)
    incident.status = status
    incident.resolved_at = now
    incident.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
    incident.resolution_note = note
    incident.duration_minutes = _minutes(incident.triggered_at, now)
    incident.save(
        update_fields=[
            "status",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "duration_minutes",
            "updated_at",
        ]
    )
    action = "resolve" if status == IncidentStatus.RESOLVED else "close"
    audit.record(actor, action, incident, audit.diff(before, audit.snapshot(incident)))
    _changed(incident, "resolved")


def _muted(incident: Incident) -> bool:
    return incident.status == IncidentStatus.SUPPRESSED and incident.resolved_at is None


def resolve(incident_id: Any, user: Any, note: Any) -> Incident:
    text = _note(note)
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.status in LIVE:
            _close(incident, user, text, timezone.now())
            _notify_later(incident.pk, "resolved")
        elif _muted(incident):
            _close(
                incident, user, text, timezone.now(), status=IncidentStatus.SUPPRESSED
            )
        else:
            raise InvalidTransition(f"The incident is already {incident.status}.")
    return incident


def suppress(incident_id: Any, user: Any, note: Any) -> Incident:
    text = _note(note)
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.status not in LIVE:
            raise InvalidTransition(
                f"Only an open or acknowledged incident can be suppressed; "
                f"this one is {incident.status}."
            )
        before = audit.snapshot(incident)
        incident.status = IncidentStatus.SUPPRESSED
        if text:
            incident.resolution_note = text
        incident.save(update_fields=["status", "resolution_note", "updated_at"])
        audit.record(
            user, "suppress", incident, audit.diff(before, audit.snapshot(incident))
        )
        _changed(incident, "suppressed")
    return incident


def auto_resolve(
    incident_id: Any, now: datetime.datetime, note: str
) -> Incident | None:
    """Resolve a live incident whose condition stopped holding; None if already done."""
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.status in LIVE:
            _close(incident, None, note, now)
            _notify_later(incident.pk, "resolved")
        elif _muted(incident):
            _close(incident, None, note, now, status=IncidentStatus.SUPPRESSED)
        else:
            return None
    return incident


def escalate(
    incident_id: Any, level: int, recipients: list[str], now: datetime.datetime
) -> Incident | None:
    """Raise an open incident one level; None if another worker moved it first."""
    with transaction.atomic():
        updated = Incident.objects.filter(
            pk=incident_id, status=IncidentStatus.OPEN, escalation_level=level
        ).update(
            escalation_level=level + 1,
            escalated_at=now,
            escalated_to=recipients,
            updated_at=now,
        )
        if not updated:
            return None
        incident = Incident.objects.get(pk=incident_id)
        audit.record(
            None,
            "escalate",
            incident,
            {"escalation_level": [level, level + 1], "recipients": len(recipients)},
        )
        _changed(incident, "escalated")
        _notify_later(incident.pk, "escalated", level + 1)
    return incident


__all__ = [
    "LIVE",
    "IncidentConflict",
    "InvalidTransition",
    "acknowledge",
    "auto_resolve",
    "escalate",
    "open_incident",
    "resolve",
    "suppress",
]
