"""Who hears about an incident change, and the record of every attempt."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from alerts_app import config, quota
from alerts_app.models import AlertRule, Incident
from alerts_app.notifications.base import (
    Channel,
    DeliveryError,
    Message,
    fingerprint,
    label,
)
from alerts_app.notifications.email import EmailChannel
from alerts_app.notifications.slack import SlackChannel
from alerts_app.notifications.sms import SmsChannel
from alerts_app.notifications.webhook import WebhookChannel
from alerts_app.validation import kind_of

logger = logging.getLogger(__name__)

CHANNELS = ("email", "slack", "sms", "webhook")
# Statuses of entries that reached (or are reaching) a recipient.
REACHING = frozenset({"queued", "sent", "failed", "gave_up"})

Target = tuple[str, str]


def webhook_secret(rule: AlertRule) -> str:
    if rule.webhook_secret:
        value = rule.webhook_secret.reveal().get("secret")
        if isinstance(value, str) and value:
            return value
    return str(settings.ALERT_WEBHOOK_SECRET or "")


_CLASSES: dict[str, type[Channel]] = {
    "email": EmailChannel,
    "slack": SlackChannel,
    "sms": SmsChannel,
    "webhook": WebhookChannel,
}


def channel_for(name: str, rule: AlertRule) -> Channel:
    if name == "webhook":
        return WebhookChannel(webhook_secret(rule))
    return _CLASSES[name]()


def targets(
    recipients: list[str] | None, channels: set[str], severity: str
) -> list[Target]:
    """Pair each recipient with the channel its form names, in the allowed channels."""
    found: list[Target] = []
    for recipient in recipients or []:
        kind = kind_of(recipient)
        if kind in channels and (kind, recipient) not in found:
            found.append((kind, recipient))
    if (
        "slack" in channels
        and settings.SLACK_WEBHOOK_URL
        and not any(kind == "slack" for kind, _ in found)
    ):
        found.append(("slack", settings.SLACK_WEBHOOK_URL))
    return [
        (kind, recipient)
        for kind, recipient in found
        if _CLASSES[kind]().accepts(severity)
    ]


def _known(rule: AlertRule) -> dict[str, str]:
    every = [*(rule.notification_recipients or []), *(rule.escalation_recipients or [])]
    if settings.SLACK_WEBHOOK_URL:
        every.append(settings.SLACK_WEBHOOK_URL)
    return {fingerprint(recipient): recipient for recipient in every}


def plan(incident: Incident, event: str) -> list[Target]:
    rule = incident.alert_rule
    if event == "escalated":
        return targets(rule.escalation_recipients, set(CHANNELS), incident.severity)
    if event == "resolved":
        known = _known(rule)
        reached: list[Target] = []
        for entry in incident.notifications_sent or []:
            if entry.get("event") not in {"opened", "escalated"}:
                continue
            if entry.get("status") not in REACHING:
                continue
            recipient = known.get(entry.get("key", ""))
            target = (entry.get("channel", ""), recipient or "")
            if recipient and target not in reached:
                reached.append(target)
        return reached
    return targets(
        rule.notification_recipients, set(rule.notification_channels), incident.severity
    )


def entry(
    event: str,
    level: int,
    channel: str,
    recipient: str,
    status: str,
    attempt: int = 0,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "event": event,
        "level": level,
        "channel": channel,
        "recipient": label(recipient),
        "key": fingerprint(recipient),
        "status": status,
        "attempt": attempt,
        "at": timezone.now().isoformat(),
        "error": error,
    }


def _nobody(event: str, level: int) -> dict[str, Any]:
    return {
        "event": event,
        "level": level,
        "channel": None,
        "recipient": None,
        "key": None,
        "status": "skipped",
        "attempt": 0,
        "at": timezone.now().isoformat(),
        "error": "no recipient for the rule's channels",
    }


# Incidents whose notices were never queued (the broker was down when they
# changed): opened ones with no record at all, resolved ones that reached
# someone when they opened but have no record of their resolution.
_UNSENT = """
SELECT id, 'opened' FROM alert_incidents
WHERE status IN ('open', 'acknowledged')
  AND suppressed_by_window_id IS NULL
  AND triggered_at BETWEEN %(since)s AND %(until)s
  AND jsonb_array_length(coalesce(notifications_sent, '[]'::jsonb)) = 0
UNION ALL
SELECT id, 'resolved' FROM alert_incidents i
WHERE status = 'resolved'
  AND resolved_at BETWEEN %(since)s AND %(until)s
  AND EXISTS (
      SELECT 1 FROM jsonb_array_elements(coalesce(i.notifications_sent, '[]'))
          AS e(entry)
      WHERE e.entry->>'event' IN ('opened', 'escalated')
        AND e.entry->>'status' IN ('queued', 'sent', 'failed', 'gave_up'))
  AND NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements(coalesce(i.notifications_sent, '[]'))
          AS e(entry)
      WHERE e.entry->>'event' = 'resolved')
"""


def unsent(now: datetime.datetime) -> list[tuple[Any, str]]:
    """List incident changes from the last hour whose notices were never queued."""
    with connection.cursor() as cursor:
        cursor.execute(
            _UNSENT,
            {
                "since": now - datetime.timedelta(hours=1),
                "until": now - datetime.timedelta(minutes=1),
            },
        )
        return [(pk, event) for pk, event in cursor.fetchall()]


def record(incident_id: Any, entries: list[dict[str, Any]]) -> None:
    """Append outcomes to notifications_sent in one statement, safe across workers."""
    if not entries:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE alert_incidents
            SET notifications_sent =
                    coalesce(notifications_sent, '[]'::jsonb) || %s::jsonb,
                updated_at = %s
            WHERE id = %s
            """,
            [json.dumps(entries), timezone.now(), incident_id],
        )


def compose(incident: Incident, event: str, level: int = 0) -> Message:
    name = incident.integration.display_name
    severity = incident.severity.upper()
    local = timezone.localtime(incident.triggered_at)
    lines = [incident.alert_message, f"Triggered at {local:%Y-%m-%d %H:%M %Z}."]
    if event == "resolved":
        subject = f"RESOLVED: {name} alert"
        lines.append(f"Resolved after {incident.duration_minutes or 0} minutes.")
        if incident.resolution_note:
            lines.append(f"Note: {incident.resolution_note}")
    elif event == "escalated":
        subject = f"ESCALATED (level {level}) {severity}: {name} alert unacknowledged"
    else:
        subject = f"{severity}: {name} alert"
    payload = {
        "event": event,
        "incident": {
            "id": str(incident.pk),
            "status": incident.status,
            "severity": incident.severity,
            "message": incident.alert_message,
            "integration_id": str(incident.integration_id),
            "integration_name": name,
            "rule_id": str(incident.alert_rule_id),
            "trigger_value": None
            if incident.trigger_value is None
            else str(incident.trigger_value),
            "threshold_value": None
            if incident.threshold_value is None
            else str(incident.threshold_value),
            "triggered_at": incident.triggered_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat()
            if incident.resolved_at
            else None,
            "escalation_level": incident.escalation_level,
            "affected_services": incident.affected_services or [],
        },
    }
    return Message(
        subject=subject,
        text="\n".join(lines),
        severity=incident.severity,
        payload=payload,
    )


def _load(incident_id: Any) -> Incident | None:
    return (
        Incident.objects.select_related("alert_rule", "integration")
        .filter(pk=incident_id)
        .first()
    )


def dispatch(incident_id: Any, event: str, level: int = 0) -> list[Target]:
    """Decide who hears of a change and return the sends to queue.

    New notifications are held back for a maintenance window, a critical
    upstream, or a spent hourly allowance, and the holding is recorded.
    """
    incident = _load(incident_id)
    if incident is None:
        return []
    if any(
        e.get("event") == event and e.get("level", 0) == level
        for e in incident.notifications_sent or []
    ):
        return []
    if incident.suppressed_by_window_id and event != "resolved":
        return []
    chosen = plan(incident, event)
    if not chosen:
        if event == "opened":
            # Say so on the incident, so the sweep knows it was not lost.
            record(incident.pk, [_nobody(event, level)])
        return []

    status = "queued"
    reason = None
    if event != "resolved":
        if incident.caused_by_id:
            status, reason = "held", "upstream dependency is critical"
        elif not quota.take(
            incident.integration_id,
            config.number("notification_rate_limit"),
            timezone.now(),
        ):
            status, reason = "rate_limited", "hourly notification limit reached"
    record(
        incident.pk,
        [
            entry(event, level, kind, recipient, status, error=reason)
            for kind, recipient in chosen
        ],
    )
    if status != "queued":
        logger.warning(
            "incident %s: %d %s notifications held back: %s",
            incident.pk,
            len(chosen),
            event,
            reason,
        )
        return []
    return chosen


def deliver(
    incident_id: Any, event: str, channel: str, key: str, level: int, attempt: int
) -> bool:
    """Make one attempt and record it; True when a later attempt should follow."""
    incident = _load(incident_id)
    if incident is None or channel not in CHANNELS:
        return False
    for done in incident.notifications_sent or []:
        if (
            done.get("status") == "sent"
            and done.get("event") == event
            and done.get("level", 0) == level
            and done.get("channel") == channel
            and done.get("key") == key
        ):
            return False

    recipient = _known(incident.alert_rule).get(key)
    if recipient is None:
        record(
            incident.pk,
            [
                {
                    **entry(event, level, channel, key, "skipped", attempt),
                    "recipient": key,
                    "key": key,
                    "error": "recipient no longer configured",
                }
            ],
        )
        return False

    try:
        channel_for(channel, incident.alert_rule).send(
            compose(incident, event, level), recipient
        )
    except Exception as exc:
        if isinstance(exc, DeliveryError):
            error, retryable = str(exc), exc.retryable
        else:
            # An unexpected error's text may quote what it was given: keep its type.
            error, retryable = f"unexpected {type(exc).__name__}", True
        final = not retryable or attempt >= settings.ALERT_NOTIFY_MAX_ATTEMPTS
        record(
            incident.pk,
            [
                entry(
                    event,
                    level,
                    channel,
                    recipient,
                    "gave_up" if final else "failed",
                    attempt,
                    error,
                )
            ],
        )
        logger.warning(
            "incident %s: %s %s to %s failed on attempt %d%s: %s",
            incident.pk,
            event,
            channel,
            label(recipient),
            attempt,
            ", giving up" if final else "",
            error,
        )
        return not final

    record(incident.pk, [entry(event, level, channel, recipient, "sent", attempt)])
    logger.info(
        "incident %s: %s %s sent to %s on attempt %d",
        incident.pk,
        event,
        channel,
        label(recipient),
        attempt,
    )
    return False
