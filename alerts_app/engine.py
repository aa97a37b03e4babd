"""Rule evaluation: every active rule against every integration it watches."""

from __future__ import annotations

import datetime
import logging
import operator
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from alerts_app import incidents, readings
from alerts_app.models import (
    AlertRule,
    ConditionState,
    CriticalSince,
    Incident,
    IncidentStatus,
    MaintenanceStatus,
    MaintenanceWindow,
)
from integrations_app.models import Dependency, Integration

logger = logging.getLogger(__name__)

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

Pair = tuple[uuid.UUID, uuid.UUID]

_RULE_FIELDS = (
    "id",
    "integration_id",
    "condition_metric",
    "condition_operator",
    "condition_threshold",
    "condition_duration_minutes",
    "cooldown_minutes",
    "auto_resolve",
    "business_hours_only",
    "business_hours_start",
    "business_hours_end",
    "business_days",
)


@dataclass
class Outcome:
    """What one evaluation pass did."""

    pairs: int = 0
    holding: int = 0
    opened: int = 0
    suppressed: int = 0
    resolved: int = 0
    waiting: int = 0
    errors: int = 0
    opened_ids: list[uuid.UUID] = field(default_factory=list)


def holds(value: Decimal | None, op: str, threshold: Decimal) -> bool | None:
    """Compare a metric value with a threshold; None when there is no value."""
    if value is None:
        return None
    return OPERATORS[op](value, threshold)


def in_business_hours(
    now: datetime.datetime,
    start: datetime.time,
    end: datetime.time,
    days: Iterable[int],
    tz: datetime.tzinfo | None = None,
) -> bool:
    """Tell whether `now`, on the local wall clock, falls in the business hours.

    A window whose end is before its start crosses midnight and belongs to the
    day it started on; equal start and end mean the whole day.
    """
    local = now.astimezone(tz or zoneinfo.ZoneInfo(settings.TIME_ZONE))
    clock = local.time().replace(tzinfo=None)
    day = local.isoweekday()
    allowed = set(days)
    if start == end:
        return day in allowed
    if start < end:
        return day in allowed and start <= clock < end
    if clock >= start:
        return day in allowed
    if clock < end:
        previous = (day - 2) % 7 + 1
        return previous in allowed
    return False


def _pairs(
    rules: list[dict[str, Any]], watched: Iterable[uuid.UUID]
) -> Iterable[tuple[dict[str, Any], uuid.UUID]]:
    everyone = list(watched)
    present = set(everyone)
    for rule in rules:
        target = rule["integration_id"]
        if target is None:
            for integration_id in everyone:
                yield rule, integration_id
        elif target in present:
            yield rule, target


def _unnest(pairs: Iterable[Pair]) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    rules: list[uuid.UUID] = []
    integrations: list[uuid.UUID] = []
    for rule_id, integration_id in pairs:
        rules.append(rule_id)
        integrations.append(integration_id)
    return rules, integrations


def _forget(pairs: list[Pair]) -> None:
    if not pairs:
        return
    rules, integrations = _unnest(pairs)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM alert_condition_states s
            USING unnest(%s::uuid[], %s::uuid[]) AS b(rule_id, integration_id)
            WHERE s.alert_rule_id = b.rule_id AND s.integration_id = b.integration_id
            """,
            [rules, integrations],
        )


def _cooling(
    pairs: list[Pair], now: datetime.datetime, cooldown: dict[Pair, int]
) -> set[Pair]:
    """Return the pairs whose last alert (or its end) is within the cooldown."""
    if not pairs:
        return set()
    rules, integrations = _unnest(pairs)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT ON (i.alert_rule_id, i.integration_id)
                   i.alert_rule_id, i.integration_id,
                   greatest(i.triggered_at, coalesce(i.resolved_at, i.triggered_at))
            FROM alert_incidents i
            JOIN unnest(%s::uuid[], %s::uuid[]) AS b(rule_id, integration_id)
              ON i.alert_rule_id = b.rule_id AND i.integration_id = b.integration_id
            WHERE i.status <> 'suppressed'
            ORDER BY i.alert_rule_id, i.integration_id, i.triggered_at DESC
            """,
            [rules, integrations],
        )
        rows = cursor.fetchall()
    return {
        (rule_id, integration_id)
        for rule_id, integration_id, last in rows
        if last + datetime.timedelta(minutes=cooldown[(rule_id, integration_id)]) > now
    }


def windows_in_progress(
    integration_ids: Iterable[uuid.UUID],
) -> dict[uuid.UUID, uuid.UUID]:
    """Map each integration inside an in-progress maintenance window to the window."""
    through = MaintenanceWindow.affected_integrations.through
    rows = through.objects.filter(
        integration_id__in=list(integration_ids),
        maintenancewindow__status=MaintenanceStatus.IN_PROGRESS,
    ).values_list("integration_id", "maintenancewindow_id")
    return dict(rows)


def critical_upstreams(
    integration_ids: Iterable[uuid.UUID], now: datetime.datetime
) -> dict[uuid.UUID, tuple[uuid.UUID, str, datetime.datetime]]:
    """Map integrations to an upstream that has been critical past its delay."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.integration_id, u.id, u.display_name, coalesce(c.since, %(now)s)
            FROM integration_dependencies d
            JOIN integrations u ON u.id = d.depends_on_integration_id
            LEFT JOIN alert_critical_since c ON c.integration_id = u.id
            WHERE d.failure_propagates
              AND u.current_health_status = 'critical'
              AND d.integration_id = ANY(%(ids)s)
              AND coalesce(c.since, %(now)s)
                  <= %(now)s - d.propagation_delay_minutes * interval '1 minute'
            ORDER BY d.integration_id, coalesce(c.since, %(now)s), u.display_name
            """,
            {"ids": list(integration_ids), "now": now},
        )
        found: dict[uuid.UUID, tuple[uuid.UUID, str, datetime.datetime]] = {}
        for integration_id, upstream_id, name, since in cursor.fetchall():
            found.setdefault(integration_id, (upstream_id, name, since))
    return found


def track_critical(
    integration_ids: Iterable[uuid.UUID] | None, now: datetime.datetime
) -> None:
    """Keep since when each integration has been critical, for its dependants."""
    only = "" if integration_ids is None else "AND i.id = ANY(%(ids)s)"
    params: dict[str, Any] = {"now": now, "ids": list(integration_ids or [])}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO alert_critical_since (integration_id, since)
            SELECT i.id, %(now)s FROM integrations i
            WHERE i.current_health_status = 'critical' {only}
            ON CONFLICT (integration_id) DO NOTHING
            """,  # noqa: S608 - `only` is one of two constant strings
            params,
        )
        cursor.execute(
            f"""
            DELETE FROM alert_critical_since c USING integrations i
            WHERE c.integration_id = i.id
              AND i.current_health_status <> 'critical' {only}
            """,  # noqa: S608 - `only` is one of two constant strings
            params,
        )


def note_status_change(
    integration_id: Any, health_status: str, changed_at: datetime.datetime
) -> None:
    """Record the moment an integration turned critical, or forget it on recovery."""
    if health_status == "critical":
        CriticalSince.objects.get_or_create(
            integration_id=integration_id, defaults={"since": changed_at}
        )
    else:
        CriticalSince.objects.filter(integration_id=integration_id).delete()


def evaluate(
    integration_ids: Iterable[uuid.UUID] | None = None,
    now: datetime.datetime | None = None,
) -> Outcome:
    """Evaluate the active rules for some integrations (all when None)."""
    now = now or timezone.now()
    ids = None if integration_ids is None else list(integration_ids)
    outcome = Outcome()

    track_critical(ids, now)
    current = readings.current(now, ids)
    rule_filter = Q(is_active=True)
    if ids is not None:
        rule_filter &= Q(integration_id__in=ids) | Q(integration__isnull=True)
    rules = list(AlertRule.objects.filter(rule_filter).values(*_RULE_FIELDS))

    # A full pass reads every state, so it can drop those no rule evaluates any
    # more (rule paused or retargeted, integration no longer monitored): a
    # paused rule must not wake up with a duration already served.
    state_filter = Q() if ids is None else Q(alert_rule__is_active=True)
    live_filter = Q(status__in=incidents.LIVE) | Q(
        status=IncidentStatus.SUPPRESSED, resolved_at__isnull=True
    )
    if ids is not None:
        state_filter &= Q(integration_id__in=ids)
        live_filter &= Q(integration_id__in=ids)
    states: dict[Pair, datetime.datetime] = {
        (rule_id, integration_id): since
        for rule_id, integration_id, since in ConditionState.objects.filter(
            state_filter
        ).values_list("alert_rule_id", "integration_id", "since")
    }
    live: dict[Pair, uuid.UUID] = {
        (rule_id, integration_id): pk
        for pk, rule_id, integration_id in Incident.objects.filter(
            live_filter
        ).values_list("id", "alert_rule_id", "integration_id")
    }

    fresh: list[ConditionState] = []
    broken: list[Pair] = []
    due: dict[Pair, tuple[dict[str, Any], Decimal | None]] = {}
    clearing: list[tuple[uuid.UUID, Decimal | None, dict[str, Any]]] = []
    evaluated: set[Pair] = set()
    for rule, integration_id in _pairs(rules, current):
        outcome.pairs += 1
        pair = (rule["id"], integration_id)
        evaluated.add(pair)
        value = current[integration_id].values.get(rule["condition_metric"])
        met = holds(value, rule["condition_operator"], rule["condition_threshold"])
        if met is None:
            continue
        if not met:
            if pair in states:
                broken.append(pair)
            if pair in live:
                clearing.append((live[pair], value, rule))
            continue

        outcome.holding += 1
        since = states.get(pair)
        if since is None:
            since = now
            fresh.append(
                ConditionState(alert_rule_id=pair[0], integration_id=pair[1], since=now)
            )
        if pair in live:
            continue
        if now - since < datetime.timedelta(minutes=rule["condition_duration_minutes"]):
            outcome.waiting += 1
            continue
        due[pair] = (rule, value)

    ConditionState.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=5000)
    if ids is None:
        broken.extend(pair for pair in states if pair not in evaluated)
    _forget(broken)
    _resolve(clearing, now, outcome)
    if due:
        _open(due, now, outcome)
    return outcome


def _resolve(
    clearing: list[tuple[uuid.UUID, Decimal | None, dict[str, Any]]],
    now: datetime.datetime,
    outcome: Outcome,
) -> None:
    for incident_id, value, rule in clearing:
        incident = Incident.objects.filter(pk=incident_id).only("status").first()
        if incident is None:
            continue
        muted = incident.status == IncidentStatus.SUPPRESSED
        if not muted and not rule["auto_resolve"]:
            continue
        current = "no value" if value is None else f"{value.normalize():f}"
        note = f"Auto-resolved: condition no longer met (current: {current})."
        try:
            if incidents.auto_resolve(incident_id, now, note):
                outcome.resolved += 1
        except Exception:
            outcome.errors += 1
            logger.exception("incident %s: auto-resolve failed", incident_id)


def _open(
    due: dict[Pair, tuple[dict[str, Any], Decimal | None]],
    now: datetime.datetime,
    outcome: Outcome,
) -> None:
    pairs = list(due)
    cooldown = {pair: due[pair][0]["cooldown_minutes"] for pair in pairs}
    cooling = _cooling(pairs, now, cooldown)
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    ready = [
        pair
        for pair in pairs
        if pair not in cooling
        and (
            not due[pair][0]["business_hours_only"]
            or in_business_hours(
                now,
                due[pair][0]["business_hours_start"],
                due[pair][0]["business_hours_end"],
                due[pair][0]["business_days"],
                tz,
            )
        )
    ]
    if not ready:
        return

    integration_ids = {integration_id for _, integration_id in ready}
    windows = windows_in_progress(integration_ids)
    upstreams = critical_upstreams(integration_ids, now)
    dependants: dict[uuid.UUID, list[str]] = {pk: [] for pk in integration_ids}
    for upstream_id, name in (
        Dependency.objects.filter(
            depends_on_id__in=integration_ids, failure_propagates=True
        )
        .order_by("integration__display_name")
        .values_list("depends_on_id", "integration__display_name")
    ):
        if name not in dependants[upstream_id]:
            dependants[upstream_id].append(name)
    rules = AlertRule.objects.in_bulk({rule_id for rule_id, _ in ready})
    integrations = Integration.objects.only("id", "display_name").in_bulk(
        integration_ids
    )
    for pair in ready:
        rule_id, integration_id = pair
        try:
            incident = incidents.open_incident(
                rules[rule_id],
                integrations[integration_id],
                due[pair][1],
                now,
                window_id=windows.get(integration_id),
                upstream=upstreams.get(integration_id),
                dependants=dependants[integration_id],
            )
        except Exception:
            outcome.errors += 1
            logger.exception("rule %s on %s: opening failed", rule_id, integration_id)
            continue
        if incident is None:
            continue
        outcome.opened_ids.append(incident.pk)
        if incident.status == IncidentStatus.SUPPRESSED:
            outcome.suppressed += 1
        else:
            outcome.opened += 1


def evaluate_all(now: datetime.datetime | None = None) -> Outcome:
    """Run one full pass over every active rule, logging what it did."""
    started = time.monotonic()
    outcome = evaluate(None, now)
    logger.info(
        "alert evaluation: %d pairs, %d holding, %d waiting, %d opened, "
        "%d suppressed, %d resolved, %d errors in %.0f ms",
        outcome.pairs,
        outcome.holding,
        outcome.waiting,
        outcome.opened,
        outcome.suppressed,
        outcome.resolved,
        outcome.errors,
        (time.monotonic() - started) * 1000,
    )
    return outcome


def on_status_changed(
    sender: Any,
    integration_id: Any,
    health_status: str,
    changed_at: datetime.datetime | str | None = None,
    **payload: Any,
) -> None:
    """Evaluate the rules of one integration as soon as its status changes."""
    started = time.monotonic()
    when = parse_datetime(changed_at) if isinstance(changed_at, str) else changed_at
    note_status_change(integration_id, health_status, when or timezone.now())
    outcome = evaluate([uuid.UUID(str(integration_id))])
    logger.info(
        "status change of %s to %s: %d rules, %d opened, %d resolved in %.0f ms",
        integration_id,
        health_status,
        outcome.pairs,
        outcome.opened + outcome.suppressed,
        outcome.resolved,
        (time.monotonic() - started) * 1000,
    )
