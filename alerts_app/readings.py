"""Current metric values of many integrations, read in one statement."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection

from metrics_app import scores

HEALTH_LEVELS = {"healthy": 0, "warning": 1, "critical": 2}

# The current partial hour from raw checks when it holds enough of them, else the
# newest hourly row: one LATERAL index probe per integration, never a scan. An
# error is what the hourly rollup counts as one.
_SQL = f"""
SELECT i.id, i.display_name, i.current_health_status, i.consecutive_failures,
       i.last_response_time_ms, p.n, p.uptime, p.error_rate,
       m.uptime_percentage, m.error_rate
FROM integrations i
LEFT JOIN LATERAL (
    SELECT count(*) AS n,
           round(100.0 * count(*) FILTER (WHERE h.is_successful)
                 / nullif(count(*), 0), 2) AS uptime,
           round(100.0 * count(*) FILTER (WHERE {scores.IS_ERROR})
                 / nullif(count(*), 0), 2) AS error_rate
    FROM integration_health_checks h
    WHERE h.integration_id = i.id
      AND h.check_timestamp >= %(hour)s AND h.check_timestamp <= %(now)s
) p ON true
LEFT JOIN LATERAL (
    SELECT im.uptime_percentage, im.error_rate
    FROM integration_metrics im
    WHERE im.integration_id = i.id
    ORDER BY im.metric_date DESC, im.metric_hour DESC
    LIMIT 1
) m ON true
WHERE i.is_active AND i.monitoring_enabled {{only}}
"""  # noqa: S608 - the expression is a constant of metrics_app


@dataclass(frozen=True, slots=True)
class Reading:
    integration_id: uuid.UUID
    display_name: str
    health_status: str
    values: dict[str, Decimal | None]


def _number(value: object) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def current(
    now: datetime.datetime, integration_ids: Iterable[uuid.UUID] | None = None
) -> dict[uuid.UUID, Reading]:
    """Read every metric a rule may name for the monitored integrations."""
    hour = now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    params: dict[str, Any] = {"hour": hour, "now": now}
    only = ""
    if integration_ids is not None:
        params["ids"] = list(integration_ids)
        only = "AND i.id = ANY(%(ids)s)"
    enough = settings.ALERT_PARTIAL_HOUR_MIN_CHECKS

    readings: dict[uuid.UUID, Reading] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SQL.format(only=only), params)
        for row in cursor.fetchall():
            (pk, name, status, failures, response, n, p_up, p_err, m_up, m_err) = row
            partial = n is not None and n >= enough
            level = HEALTH_LEVELS.get(status)
            readings[pk] = Reading(
                integration_id=pk,
                display_name=name,
                health_status=status,
                values={
                    "uptime_percentage": _number(p_up if partial else m_up),
                    "error_rate": _number(p_err if partial else m_err),
                    "response_time": _number(response),
                    "consecutive_failures": _number(failures),
                    "health_status": None if level is None else Decimal(level),
                },
            )
    return readings
