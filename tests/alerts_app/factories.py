from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from tests.integrations_app.factories import IntegrationFactory


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    integration = factory.SubFactory(IntegrationFactory)
    rule_name = factory.Sequence(lambda n: f"Rule {n}")
    alert_type = "availability"
    condition_metric = "consecutive_failures"
    condition_operator = ">="
    condition_threshold = Decimal(3)
    condition_duration_minutes = 0
    cooldown_minutes = 0
    severity = "critical"
    notification_channels = ["email"]
    notification_recipients = ["oncall@example.com"]


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    alert_rule = factory.SubFactory(AlertRuleFactory)
    integration = factory.SelfAttribute("alert_rule.integration")
    alert_message = "Service: rule - consecutive_failures >= 3 (current: 4)"
    severity = "critical"
    status = "open"
    notifications_sent = factory.LazyFunction(list)


class MaintenanceWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenanceWindow
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Window {n}")
    scheduled_start = factory.LazyFunction(
        lambda: timezone.now() + datetime.timedelta(hours=1)
    )
    scheduled_end = factory.LazyAttribute(
        lambda w: w.scheduled_start + datetime.timedelta(hours=2)
    )
    requires_approval = False

    @factory.post_generation
    def integrations(
        self, create: bool, extracted: list | None, **kwargs: object
    ) -> None:
        if create and extracted:
            self.affected_integrations.set(extracted)
