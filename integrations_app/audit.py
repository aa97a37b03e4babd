"""The audit trail: one event for every change a person or the system makes."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.db import models

from integrations_app.models import AuditEvent
from monitor_project.sealing import Sealed

MASK = "********"

# Fields whose values are secrets: the audit trail says they changed, not to what.
SECRET_FIELDS = frozenset(
    {
        "auth_config",
        "custom_headers",
        "notification_recipients",
        "escalation_recipients",
        "webhook_secret",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, Sealed):
        return {"keys": value.keys}
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """Capture the concrete field values of a row, secrets reduced to key names."""
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if isinstance(field, models.GeneratedField):
            continue
        values[field.name] = _plain(getattr(instance, field.attname))
    return values


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """List changed fields as {field: [old, new]}, secret values masked."""
    before = before or {}
    after = after or {}
    changes: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        if name in {"updated_at", "created_at"}:
            continue
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in SECRET_FIELDS:
            changes[name] = [MASK if old else None, MASK if new else None]
        else:
            changes[name] = [old, new]
    return changes


def record(
    actor: Any,
    action: str,
    obj: models.Model,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "system",
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:255],
        details=_plain(details or {}),
    )
