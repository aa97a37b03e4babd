"""Alerting: one full evaluation pass, and a status change to its incident row.

Builds 10,000 integrations (a day of hourly metrics and a partial hour of raw
checks each) and 20,000 active rules in a throwaway test database, then times
the passes the beat runs every 30 seconds and the path from a status change to
the incident it opens.
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
import uuid
from decimal import Decimal
from typing import Any

INTEGRATIONS = int(os.environ.get("BENCH_INTEGRATIONS", "10000"))
RULES_PER_INTEGRATION = 2
GLOBAL_RULES = 2
STATUS_CHANGES = 200
METRICS = [
    ("consecutive_failures", ">=", Decimal(3)),
    ("response_time", ">", Decimal(2000)),
    ("uptime_percentage", "<", Decimal(95)),
    ("error_rate", ">", Decimal(10)),
    ("health_status", "==", Decimal(2)),
]


def _populate(now: datetime.datetime) -> list[uuid.UUID]:
    from django.db import connection

    from alerts_app.models import AlertRule
    from integrations_app.models import Integration

    integrations = [
        Integration(
            name=f"bench_{n}",
            display_name=f"Bench {n}",
            service_type="api",
            auth_type="none",
            base_url=f"https://bench{n}.example.com",
            current_health_status="healthy",
            # One in twenty is failing, so some conditions hold.
            consecutive_failures=5 if n % 20 == 0 else 0,
            last_response_time_ms=2500 if n % 20 == 1 else 180,
        )
        for n in range(INTEGRATIONS)
    ]
    Integration.objects.bulk_create(integrations, batch_size=2000)
    ids = [integration.pk for integration in integrations]

    with connection.cursor() as cursor:
        hour = now.replace(minute=0, second=0, microsecond=0)
        cursor.execute(
            """
            INSERT INTO integration_metrics
                (id, integration_id, metric_date, metric_hour, time_window_minutes,
                 total_checks, successful_checks, failed_checks, error_count,
                 status_2xx_count, status_3xx_count, status_4xx_count,
                 status_5xx_count, timeout_count, created_at)
            SELECT gen_random_uuid(), i.id, (h.at AT TIME ZONE 'UTC')::date,
                   extract(hour FROM h.at AT TIME ZONE 'UTC')::int, 60, 12, 12, 0, 0,
                   12, 0, 0, 0, 0, now()
            FROM integrations i
            CROSS JOIN generate_series(%s::timestamptz - interval '24 hours',
                                       %s::timestamptz - interval '1 hour',
                                       interval '1 hour') AS h(at)
            """,
            [hour, hour],
        )
        cursor.execute(
            """
            INSERT INTO integration_health_checks
                (id, integration_id, check_timestamp, response_time_ms, status_code,
                 is_successful, health_status, check_type, created_at)
            SELECT gen_random_uuid(), i.id,
                   %s::timestamptz + (k * interval '5 minutes'), 150, 200,
                   NOT (i.consecutive_failures > 0), 'healthy', 'automated', now()
            FROM integrations i CROSS JOIN generate_series(0, 3) AS k
            """,
            [hour],
        )
        cursor.execute("ANALYZE")

    rules = []
    for n, integration_id in enumerate(ids):
        for k in range(RULES_PER_INTEGRATION):
            metric, op, threshold = METRICS[(n + k) % len(METRICS)]
            rules.append(
                AlertRule(
                    integration_id=integration_id,
                    rule_name=f"bench {n}/{k}",
                    alert_type="availability",
                    condition_metric=metric,
                    condition_operator=op,
                    condition_threshold=threshold,
                    condition_duration_minutes=5,
                    cooldown_minutes=15,
                    severity="critical",
                    notification_channels=[],
                )
            )
    for k in range(GLOBAL_RULES):
        rules.append(
            AlertRule(
                integration_id=None,
                rule_name=f"bench global {k}",
                alert_type="availability",
                condition_metric="consecutive_failures",
                condition_operator=">=",
                condition_threshold=Decimal(10),
                condition_duration_minutes=5,
                severity="warning",
                notification_channels=[],
            )
        )
    AlertRule.objects.bulk_create(rules, batch_size=5000)
    return ids


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def _status_changes(ids: list[uuid.UUID], now: datetime.datetime) -> list[float]:
    """Flip healthy integrations to critical the way the check engine does."""
    from django.db import transaction

    from alerts_app.models import AlertRule, Incident
    from integrations_app.models import Integration
    from integrations_app.signals import announce, status_changed

    chosen = ids[1 : 1 + STATUS_CHANGES * 20 : 20]
    AlertRule.objects.bulk_create(
        [
            AlertRule(
                integration_id=integration_id,
                rule_name=f"bench down {n}",
                alert_type="availability",
                condition_metric="health_status",
                condition_operator="==",
                condition_threshold=Decimal(2),
                condition_duration_minutes=0,
                severity="critical",
                notification_channels=[],
            )
            for n, integration_id in enumerate(chosen)
        ]
    )
    latencies = []
    for integration_id in chosen:
        started = time.perf_counter()
        with transaction.atomic():
            Integration.objects.filter(pk=integration_id).update(
                current_health_status="critical"
            )
            announce(
                status_changed,
                Integration,
                integration_id=str(integration_id),
                display_name="bench",
                health_status="critical",
                previous_status="healthy",
                changed_at=now,
            )
        if not Incident.objects.filter(
            integration_id=integration_id,
            alert_rule__rule_name__startswith="bench down",
        ).exists():
            raise RuntimeError(f"no incident for {integration_id}")
        latencies.append(time.perf_counter() - started)
    return latencies


def run() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")
    django.setup()
    import logging

    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from django.utils import timezone

    from alerts_app import engine
    from monitor_project import access
    from monitor_project.celery import app

    logging.disable(logging.INFO)
    # Notification tasks go to the real broker as in production; no worker
    # takes them here, and they are purged at the end.
    app.conf.task_always_eager = False
    # A database of its own, apart from the one the test suite creates.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = "bench_alerting"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        now = timezone.now()
        # Bulk loading and ANALYZE need the owner of the tables.
        with access.as_owner():
            took, ids = _timed(_populate, now)
        rules = INTEGRATIONS * RULES_PER_INTEGRATION + GLOBAL_RULES
        print(
            f"alerting: {INTEGRATIONS} integrations, {rules} active rules "
            f"({GLOBAL_RULES} watching every integration), built in {took:.1f} s"
        )

        first, outcome = _timed(engine.evaluate, None, now)
        print(
            f"  first pass: {first:.2f} s, {outcome.pairs} rule/integration pairs, "
            f"{outcome.holding} conditions start holding"
        )
        steady = []
        for k in range(3):
            took, outcome = _timed(
                engine.evaluate, None, now + datetime.timedelta(seconds=30 * (k + 1))
            )
            steady.append(took)
        print(
            f"  steady pass (no change): median {statistics.median(steady):.2f} s "
            f"of {len(steady)}"
        )
        took, outcome = _timed(
            engine.evaluate, None, now + datetime.timedelta(minutes=6)
        )
        print(
            f"  pass opening incidents: {took:.2f} s, {outcome.opened} incidents opened"
        )

        latencies = _status_changes(ids, now + datetime.timedelta(minutes=7))
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
        print(
            f"  status change to incident row: p50 {p50:.0f} ms, p95 {p95:.0f} ms "
            f"over {len(latencies)} changes"
        )
    finally:
        teardown_databases(old, verbosity=0)
        app.control.purge()
        logging.disable(logging.NOTSET)


if __name__ == "__main__":
    run()
