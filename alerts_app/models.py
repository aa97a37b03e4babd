"""Alert rules, the incidents they open, and maintenance windows."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from integrations_app.models import Integration, created_at, updated_at, uuid_pk
from monitor_project.sealing import SealedJSONField

OPERATORS = [">", "<", ">=", "<=", "==", "!="]
SEVERITIES = ["info", "warning", "critical", "urgent"]


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    URGENT = "urgent"


class AlertType(models.TextChoices):
    AVAILABILITY = "availability"
    PERFORMANCE = "performance"
    ERROR_RATE = "error_rate"
    CUSTOM = "custom"


class Metric(models.TextChoices):
    UPTIME_PERCENTAGE = "uptime_percentage"
    ERROR_RATE = "error_rate"
    RESPONSE_TIME = "response_time"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    HEALTH_STATUS = "health_status"


class Channel(models.TextChoices):
    EMAIL = "email"
    SLACK = "slack"
    SMS = "sms"
    WEBHOOK = "webhook"


def default_channels() -> list[str]:
    return ["email"]


def default_business_days() -> list[int]:
    return [1, 2, 3, 4, 5]


class AlertRule(models.Model):
    id = uuid_pk()
    integration = models.ForeignKey(
        Integration,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
        help_text="Leave empty to apply the rule to every integration.",
    )

    rule_name = models.CharField(max_length=255)
    rule_description = models.TextField(null=True, blank=True)
    alert_type = models.CharField(max_length=50, choices=AlertType.choices)

    condition_metric = models.CharField(max_length=100, choices=Metric.choices)
    condition_operator = models.CharField(
        max_length=10, choices=[(op, op) for op in OPERATORS]
    )
    condition_threshold = models.DecimalField(max_digits=10, decimal_places=4)
    condition_duration_minutes = models.IntegerField(default=5, db_default=5)

    severity = models.CharField(max_length=20, choices=Severity.choices)
    auto_resolve = models.BooleanField(default=True, db_default=True)
    cooldown_minutes = models.IntegerField(default=15, db_default=15)

    notification_channels = ArrayField(
        models.TextField(choices=Channel.choices),
        default=default_channels,
        db_default=["email"],
    )
    notification_recipients = ArrayField(models.TextField(), null=True, blank=True)
    escalation_enabled = models.BooleanField(default=False, db_default=False)
    escalation_after_minutes = models.IntegerField(default=30, db_default=30)
    escalation_recipients = ArrayField(models.TextField(), null=True, blank=True)
    # Signs this rule's webhook bodies instead of ALERT_WEBHOOK_SECRET when set:
    # {"secret": "..."}, encrypted at rest.
    webhook_secret = SealedJSONField(null=True, blank=True)

    is_active = models.BooleanField(default=True, db_default=True)
    last_triggered = models.DateTimeField(null=True, blank=True, editable=False)
    trigger_count = models.IntegerField(default=0, db_default=0, editable=False)

    business_hours_only = models.BooleanField(default=False, db_default=False)
    business_hours_start = models.TimeField(
        default=datetime.time(8, 0), db_default=datetime.time(8, 0)
    )
    business_hours_end = models.TimeField(
        default=datetime.time(18, 0), db_default=datetime.time(18, 0)
    )
    business_days = ArrayField(
        models.IntegerField(),
        default=default_business_days,
        db_default=[1, 2, 3, 4, 5],
        help_text="1 is Monday, 7 is Sunday.",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "alert_rules"
        ordering = ["rule_name"]
        indexes = [
            models.Index(
                fields=["is_active", "integration"], name="idx_alert_rules_active"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(condition_operator__in=OPERATORS),
                name="alert_rules_condition_operator_check",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=SEVERITIES),
                name="alert_rules_severity_check",
            ),
        ]

    def __str__(self) -> str:
        return self.rule_name

    def clean_fields(self, exclude: Any = None) -> None:
        # A sealed value is not plain JSON; rule_errors checks the secret itself.
        super().clean_fields(exclude={*(exclude or ()), "webhook_secret"})

    def clean(self) -> None:
        from alerts_app.validation import rule_errors

        errors = rule_errors(self)
        if errors:
            raise ValidationError(errors)


class IncidentStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"


class Impact(models.TextChoices):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Incident(models.Model):
    id = uuid_pk()
    # An incident outlives a rule edit but not the rule's deletion through its
    # integration; deleting a rule on its own that has incidents is refused.
    alert_rule = models.ForeignKey(
        AlertRule, on_delete=models.RESTRICT, related_name="incidents"
    )
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="incidents"
    )

    triggered_at = models.DateTimeField(default=timezone.now, db_default=Now())
    resolved_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.IntegerField(null=True, blank=True)

    alert_message = models.TextField()
    severity = models.CharField(max_length=20, choices=Severity.choices)
    trigger_value = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    threshold_value = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )

    status = models.CharField(
        max_length=20, choices=IncidentStatus.choices, default="open", db_default="open"
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolution_note = models.TextField(null=True, blank=True)

    affected_services = ArrayField(models.TextField(), null=True, blank=True)
    business_impact = models.CharField(
        max_length=20, choices=Impact.choices, null=True, blank=True
    )
    estimated_affected_users = models.IntegerField(null=True, blank=True)

    escalation_level = models.IntegerField(default=0, db_default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = ArrayField(models.TextField(), null=True, blank=True)

    notifications_sent = models.JSONField(null=True, blank=True)

    # Beyond the requirements' schema: why an incident notifies nobody.
    suppressed_by_window = models.ForeignKey(
        "MaintenanceWindow",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suppressed_incidents",
        help_text="The maintenance window this incident opened in.",
    )
    caused_by = models.ForeignKey(
        Integration,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="caused_incidents",
        help_text="The critical upstream dependency this incident is blamed on.",
    )

    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "alert_incidents"
        ordering = ["-triggered_at"]
        indexes = [
            models.Index(
                "status",
                models.F("triggered_at").desc(),
                name="idx_incidents_status",
            ),
            models.Index(
                "integration",
                models.F("triggered_at").desc(),
                name="idx_incidents_integration",
            ),
        ]
        constraints = [
            # A rule without an integration watches every integration, so the
            # one live incident it may have is per integration.
            models.UniqueConstraint(
                fields=["alert_rule", "integration"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="alert_incidents_one_live_per_rule",
            ),
            # A suppressed incident stays unresolved while its condition holds,
            # so the engine opens no second one beside it.
            models.UniqueConstraint(
                fields=["alert_rule", "integration"],
                condition=Q(status="suppressed", resolved_at__isnull=True),
                name="alert_incidents_one_muted_per_rule",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["open", "acknowledged", "resolved", "suppressed"]
                ),
                name="alert_incidents_status_check",
            ),
            models.CheckConstraint(
                condition=Q(
                    business_impact__in=["none", "low", "medium", "high", "critical"]
                )
                | Q(business_impact__isnull=True),
                name="alert_incidents_business_impact_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity}: {self.alert_message[:60]}"


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class MaintenanceWindow(models.Model):
    id = uuid_pk()

    title = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    maintenance_type = models.CharField(
        max_length=50,
        choices=[
            ("planned", "planned"),
            ("emergency", "emergency"),
            ("routine", "routine"),
        ],
        default="planned",
        db_default="planned",
    )

    scheduled_start = models.DateTimeField()
    scheduled_end = models.DateTimeField()
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)

    # The schema keeps these as an array of ids; a many-to-many lets the
    # database keep them consistent when an integration is deleted.
    affected_integrations = models.ManyToManyField(
        Integration,
        related_name="maintenance_windows",
        db_table="maintenance_window_integrations",
    )
    affected_services = ArrayField(models.TextField(), null=True, blank=True)

    expected_impact = models.CharField(
        max_length=20,
        choices=[("none", "none"), ("partial", "partial"), ("full", "full")],
        default="partial",
        db_default="partial",
    )
    impact_description = models.TextField(null=True, blank=True)

    notify_users = models.BooleanField(default=True, db_default=True)
    notification_advance_hours = models.IntegerField(default=24, db_default=24)
    notifications_sent = models.BooleanField(default=False, db_default=False)

    status = models.CharField(
        max_length=20,
        choices=MaintenanceStatus.choices,
        default="scheduled",
        db_default="scheduled",
    )

    requires_approval = models.BooleanField(default=True, db_default=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "maintenance_windows"
        ordering = ["-scheduled_start"]
        indexes = [
            models.Index(
                fields=["scheduled_start", "scheduled_end"],
                name="idx_maintenance_windows_time",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scheduled_end__gt=models.F("scheduled_start")),
                name="maintenance_windows_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["scheduled", "in_progress", "completed", "cancelled"]
                ),
                name="maintenance_windows_status_check",
            ),
            models.CheckConstraint(
                condition=Q(expected_impact__in=["none", "partial", "full"]),
                name="maintenance_windows_expected_impact_check",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ConditionState(models.Model):
    """Since when a rule's condition has held for one integration, without a break."""

    alert_rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, related_name="condition_states"
    )
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="+"
    )
    since = models.DateTimeField()

    class Meta:
        db_table = "alert_condition_states"
        constraints = [
            models.UniqueConstraint(
                fields=["alert_rule", "integration"],
                name="alert_condition_states_unique_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_rule_id} on {self.integration_id} since {self.since}"


class CriticalSince(models.Model):
    """When an integration last became critical; dependants wait on it."""

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    since = models.DateTimeField()

    class Meta:
        db_table = "alert_critical_since"

    def __str__(self) -> str:
        return f"{self.integration_id} critical since {self.since}"


class NotificationQuota(models.Model):
    """Notifications spent per integration in one clock hour, shared by workers."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="+"
    )
    window_start = models.DateTimeField()
    used = models.IntegerField(default=0)

    class Meta:
        db_table = "alert_notification_quota"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "window_start"],
                name="alert_notification_quota_unique_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.window_start}: {self.used}"
