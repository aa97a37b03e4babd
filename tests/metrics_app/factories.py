from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import factory

from alerts_app.models import AlertRule, Incident
from integrations_app.models import HealthCheck, Integration
from metrics_app.models import Baseline, Metric
from tests.integrations_app.factories import IntegrationFactory


class MetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Metric

    integration = factory.SubFactory(IntegrationFactory)
    metric_date = date(2026, 11, 2)
    metric_hour = 10
    total_checks = 60
    successful_checks = 60
    failed_checks = 0


class BaselineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Baseline

    integration = factory.SubFactory(IntegrationFactory)
    baseline_start_date = date(2026, 10, 1)
    baseline_end_date = date(2026, 10, 30)
    baseline_response_time_ms = 200
    sample_size = 1000


def checks(
    integration: Integration, at: datetime, *rows: dict[str, Any], step: int = 1
) -> list[HealthCheck]:
    """Store one check per row, `step` seconds apart from `at`; rows override."""
    made = []
    for i, row in enumerate(rows):
        fields: dict[str, Any] = {
            "response_time_ms": 100,
            "status_code": 200,
            "is_successful": True,
            "health_status": "healthy",
            **row,
        }
        made.append(
            HealthCheck(
                integration=integration,
                check_timestamp=at + timedelta(seconds=i * step),
                **fields,
            )
        )
    return HealthCheck.objects.bulk_create(made)


def ok(ms: int, **extra: Any) -> dict[str, Any]:
    return {"response_time_ms": ms, **extra}


def failed(
    status: int | None, ms: int | None, kind: str | None = None
) -> dict[str, Any]:
    return {
        "response_time_ms": ms,
        "status_code": status,
        "is_successful": False,
        "health_status": "critical" if kind or (status or 0) >= 500 else "warning",
        "error_kind": kind,
        "error_message": f"failed: {kind or status}",
    }


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    integration = factory.SubFactory(IntegrationFactory)
    rule_name = factory.Sequence(lambda n: f"rule {n}")
    alert_type = "availability"
    condition_metric = "uptime_percentage"
    condition_operator = "<"
    condition_threshold = 99
    severity = "critical"


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    alert_rule = factory.SubFactory(
        AlertRuleFactory, integration=factory.SelfAttribute("..integration")
    )
    integration = factory.SubFactory(IntegrationFactory)
    alert_message = "uptime below 99%"
    severity = "critical"
    status = "resolved"
