"""Turn status, incident and access changes into WebSocket messages and closes."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from alerts_app.models import Incident
from alerts_app.signals import incident_changed
from integrations_app import live
from integrations_app.signals import status_changed
from monitor_project.roles import role_of

logger = logging.getLogger(__name__)

User = get_user_model()

STATUS_FIELDS = (
    "integration_id",
    "display_name",
    "health_status",
    "previous_status",
    "changed_at",
)

# What each incident event is called on the wire.
INCIDENT_MESSAGES = {
    "opened": "new_alert",
    "resolved": "alert_resolved",
    "acknowledged": "incident_updated",
    "escalated": "incident_updated",
    "suppressed": "incident_updated",
}


@receiver(status_changed, dispatch_uid="live.status_changed")
def on_status_changed(sender: Any, **payload: Any) -> None:
    data = {field: payload.get(field) for field in STATUS_FIELDS}
    live.broadcast("status_change", data)


def incident_message(incident: Incident, event: str) -> tuple[str, dict[str, Any]]:
    """Build the message announcing one incident event, with its time of change."""
    kind = INCIDENT_MESSAGES[event]
    data: dict[str, Any] = {
        "id": incident.pk,
        "integration_id": incident.integration_id,
        "integration_name": incident.integration.display_name,
        "status": incident.status,
        "severity": incident.severity,
        "escalation_level": incident.escalation_level,
    }
    if kind == "new_alert":
        data |= {
            "message": incident.alert_message,
            "triggered_at": incident.triggered_at,
            "changed_at": incident.triggered_at,
        }
    elif kind == "alert_resolved":
        data |= {
            "resolved_at": incident.resolved_at,
            "resolution_note": incident.resolution_note,
            "duration_minutes": incident.duration_minutes,
            "changed_at": incident.resolved_at or incident.updated_at,
        }
    else:
        changed_at = {
            "acknowledged": incident.acknowledged_at,
            "escalated": incident.escalated_at,
        }.get(event)
        acknowledged_by = incident.acknowledged_by
        data |= {
            "event": event,
            "acknowledged_by": acknowledged_by.get_username()
            if acknowledged_by
            else None,
            "acknowledged_at": incident.acknowledged_at,
            "escalated_at": incident.escalated_at,
            "changed_at": changed_at or incident.updated_at,
        }
    return kind, data


@receiver(incident_changed, dispatch_uid="live.incident_changed")
def on_incident_changed(
    sender: Any, incident_id: Any = None, event: str = "", **kwargs: Any
) -> None:
    if event not in INCIDENT_MESSAGES:
        logger.warning(
            "incident %s: unknown event %r not broadcast", incident_id, event
        )
        return
    incident = (
        Incident.objects.select_related("integration", "acknowledged_by")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        return
    live.broadcast(*incident_message(incident, event))


def _close_if_roleless(user_id: Any) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        live.revoke(user_id)
    elif role_of(user) is None:
        live.revoke(user_id, code=live.CLOSE_FORBIDDEN)


def _after_commit(user_ids: Any) -> None:
    for user_id in set(user_ids):
        transaction.on_commit(partial(_close_if_roleless, user_id), robust=True)


@receiver(post_delete, sender=Token, dispatch_uid="live.token_deleted")
def on_token_deleted(sender: Any, instance: Token, **kwargs: Any) -> None:
    transaction.on_commit(
        partial(live.revoke, instance.user_id, instance.key), robust=True
    )


@receiver(post_save, sender=User, dispatch_uid="live.user_saved")
def on_user_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kw: Any
) -> None:
    # Only what can take a role away; a login saving last_login is not it.
    if created or (
        update_fields and not {"is_active", "is_superuser"} & set(update_fields)
    ):
        return
    _after_commit([instance.pk])


@receiver(post_delete, sender=User, dispatch_uid="live.user_deleted")
def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    transaction.on_commit(partial(live.revoke, instance.pk), robust=True)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="live.groups")
def on_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kw: Any
) -> None:
    if action == "pre_clear" and reverse:
        # The group is emptied: remember its members while they can be read.
        instance._live_cleared = list(instance.user_set.values_list("pk", flat=True))
        return
    if action not in {"post_remove", "post_clear"}:
        return
    if not reverse:
        _after_commit([instance.pk])
    elif action == "post_clear":
        _after_commit(getattr(instance, "_live_cleared", []))
    else:
        _after_commit(pk_set or [])


@receiver(pre_delete, sender="auth.Group", dispatch_uid="live.group_deleted")
def on_group_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _after_commit(instance.user_set.values_list("pk", flat=True))


@receiver(user_logged_out, dispatch_uid="live.logged_out")
def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if user is not None and key:
        live.revoke(user.pk, session=key)
