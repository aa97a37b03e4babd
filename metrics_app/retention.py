"""Delete what has outlived its retention, in small batches that keep tables usable."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from alerts_app.models import Incident
from integrations_app.models import SystemConfig

logger = logging.getLogger(__name__)

DEFAULT_DAYS = {"health_check_retention_days": 30, "metrics_retention_days": 90}
# Longer is kept as a hundred years rather than refused: a value meant to keep
# everything must not fall back to a default that deletes.
MAX_DAYS = 36_500
RESOLVED_INCIDENT_DAYS = 30

# One batch is one short transaction: checks keep being written and read
# while a large backlog goes, and a killed job loses at most one batch.
BATCH_SIZE = 5000
# The task's time limit is longer; what is left waits for the next day.
TIME_BUDGET_SECONDS = 3000.0

# Before any date a row can carry: where the first batch starts.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _batch_sql(table: str, key: str, also: str = "") -> str:
    """Return one batch's DELETE, resuming at the key where the last one ended.

    Resuming, rather than scanning from the start each time, skips the index
    entries of rows the earlier batches deleted, which stay until vacuum; rows
    are picked by ctid so that each goes without a second primary key lookup.
    """
    return f"""
WITH gone AS (
    DELETE FROM {table} WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM {table}
        WHERE {key} >= %(after)s AND {key} < %(cutoff)s {also}
        ORDER BY {key} LIMIT %(batch)s
    ))
    RETURNING {key}
)
SELECT count(*), max({key}) FROM gone
"""  # noqa: S608 - table and column names are constants of this module


_CHECKS_SQL = _batch_sql("integration_health_checks", "check_timestamp")
_METRICS_SQL = _batch_sql("integration_metrics", "metric_date")
_BASELINES_SQL = _batch_sql(
    "integration_baselines", "baseline_end_date", "AND NOT is_active"
)


@dataclass
class Cleanup:
    health_checks: int = 0
    metrics: int = 0
    baselines: int = 0
    incidents: int = 0
    finished: bool = True
    seconds: float = 0.0
    days: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.health_checks + self.metrics + self.baselines + self.incidents


def _whole_days(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if value > 0 else None


def retention_days() -> dict[str, int]:
    """Read the retention days from system config; a bad value gives the default."""
    stored = dict(
        SystemConfig.objects.filter(config_key__in=DEFAULT_DAYS).values_list(
            "config_key", "config_value"
        )
    )
    days = {}
    for key, default in DEFAULT_DAYS.items():
        if key not in stored:
            logger.warning("%s is not configured; using %d days", key, default)
            days[key] = default
            continue
        value = _whole_days(stored[key])
        if value is None:
            logger.warning(
                "ignoring %s=%.40r: not a positive whole number of days; using %d",
                key,
                stored[key],
                default,
            )
            days[key] = default
        elif value > MAX_DAYS:
            logger.warning(
                "%s=%d is more than %d; using %d", key, value, MAX_DAYS, MAX_DAYS
            )
            days[key] = MAX_DAYS
        else:
            days[key] = value
    return days


def _delete_in_batches(
    sql: str, after: Any, cutoff: Any, batch: int, deadline: float
) -> tuple[int, bool]:
    deleted = 0
    with connection.cursor() as cursor:
        while True:
            if time.monotonic() > deadline:
                return deleted, False
            cursor.execute(sql, {"after": after, "cutoff": cutoff, "batch": batch})
            count, last = cursor.fetchone()
            deleted += count
            if count < batch:
                return deleted, True
            after = last


def _delete_incidents(
    cutoff: datetime, batch: int, deadline: float
) -> tuple[int, bool]:
    resolved = Incident.objects.filter(status="resolved", resolved_at__lt=cutoff)
    deleted = 0
    while True:
        if time.monotonic() > deadline:
            return deleted, False
        ids = list(
            resolved.order_by("resolved_at").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted, True
        # Through the ORM, so that whatever refers to an incident goes with it.
        _, per_model = Incident.objects.filter(pk__in=ids).delete()
        deleted += per_model.get(Incident._meta.label, 0)


def clean_up(
    now: datetime | None = None,
    batch: int = BATCH_SIZE,
    budget: float = TIME_BUDGET_SECONDS,
) -> Cleanup:
    """Delete old checks, hourly rows, retired baselines and resolved incidents."""
    began = time.monotonic()
    deadline = began + budget
    now = (now or datetime.now(UTC)).astimezone(UTC)
    days = retention_days()
    check_cutoff = now - timedelta(days=days["health_check_retention_days"])
    metric_cutoff = now.date() - timedelta(days=days["metrics_retention_days"])
    incident_cutoff = now - timedelta(days=RESOLVED_INCIDENT_DAYS)

    result = Cleanup(days=days)
    for name, sql, after, cutoff in (
        ("health_checks", _CHECKS_SQL, _EPOCH, check_cutoff),
        ("metrics", _METRICS_SQL, _EPOCH.date(), metric_cutoff),
        ("baselines", _BASELINES_SQL, _EPOCH.date(), metric_cutoff),
    ):
        deleted, result.finished = _delete_in_batches(
            sql, after, cutoff, batch, deadline
        )
        setattr(result, name, deleted)
        if not result.finished:
            break
    else:
        result.incidents, result.finished = _delete_incidents(
            incident_cutoff, batch, deadline
        )
    result.seconds = time.monotonic() - began

    rate = result.total / result.seconds if result.seconds else 0.0
    logger.log(
        logging.INFO if result.finished else logging.WARNING,
        "retention %s: deleted %d health checks older than %d days, %d hourly rows "
        "and %d retired baselines older than %d days, %d incidents resolved over "
        "%d days ago; %d rows in %.2fs (%.0f rows/s)",
        "done" if result.finished else "stopped at its time budget, the rest waits",
        result.health_checks,
        days["health_check_retention_days"],
        result.metrics,
        result.baselines,
        days["metrics_retention_days"],
        result.incidents,
        RESOLVED_INCIDENT_DAYS,
        result.total,
        result.seconds,
        rate,
    )
    return result
