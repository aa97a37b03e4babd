from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from integrations_app.models import AuditEvent
from metrics_app.models import Baseline, Metric
from tests.integrations_app.factories import IntegrationFactory


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    integration = factory.SubFactory(IntegrationFactory)
    rule_name = factory.Sequence(lambda n: f"rule {n}")
    alert_type = "availability"
    condition_metric = "consecutive_failures"
    condition_operator = ">"
    condition_threshold = 2
    severity = "critical"
    notification_recipients = ["oncall@example.com"]


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    alert_rule = factory.SubFactory(AlertRuleFactory)
    integration = factory.SelfAttribute("alert_rule.integration")
    alert_message = "consecutive_failures > 2"
    severity = "critical"
    status = "open"


class MaintenanceWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenanceWindow
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"upgrade {n}")
    scheduled_start = factory.LazyFunction(
        lambda: timezone.now() + datetime.timedelta(days=1)
    )
    scheduled_end = factory.LazyAttribute(
        lambda o: o.scheduled_start + datetime.timedelta(hours=2)
    )

    @factory.post_generation
    def affected_integrations(self, create: bool, extracted: list | None) -> None:
        if create:
            self.affected_integrations.set(extracted or [IntegrationFactory()])


class MetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Metric

    integration = factory.SubFactory(IntegrationFactory)
    metric_date = factory.LazyFunction(lambda: timezone.now().date())
    metric_hour = factory.LazyFunction(lambda: timezone.now().hour)
    total_checks = 12
    successful_checks = 11
    failed_checks = 1
    error_count = 1
    avg_response_time_ms = 120
    p95_response_time_ms = 300


class BaselineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Baseline

    integration = factory.SubFactory(IntegrationFactory)
    baseline_start_date = factory.LazyFunction(
        lambda: timezone.now().date() - datetime.timedelta(days=30)
    )
    baseline_end_date = factory.LazyFunction(lambda: timezone.now().date())
    baseline_response_time_ms = 150
    baseline_uptime_percentage = 99.5
    sample_size = 720


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor_name = "system"
    action = "update"
    object_type = "integrations_app.integration"
    object_id = factory.Sequence(str)
