"""Integrations, their health checks, dependencies, system config and audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.functions import RandomUUID
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from integrations_app import validation
from monitor_project.sealing import SealedJSONField

HEALTH_STATUSES = ["healthy", "warning", "critical", "unknown"]


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class AuthType(models.TextChoices):
    NONE = "none"
    API_KEY = "api_key"
    OAUTH = "oauth"
    BASIC = "basic"
    BEARER = "bearer"


class ServiceType(models.TextChoices):
    API = "api"
    DATABASE = "database"
    MESSAGING = "messaging"
    STORAGE = "storage"
    AUTH = "auth"
    PAYMENT = "payment"
    INFRASTRUCTURE = "infrastructure"


class Category(models.TextChoices):
    EXTERNAL = "external"
    INTERNAL = "internal"
    INFRASTRUCTURE = "infrastructure"


class Environment(models.TextChoices):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class Method(models.TextChoices):
    GET = "GET"
    POST = "POST"
    HEAD = "HEAD"


def default_response_codes() -> list[int]:
    return [200]


def uuid_pk() -> models.UUIDField:
    return models.UUIDField(
        primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False
    )


def created_at() -> models.DateTimeField:
    return models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)


def updated_at() -> models.DateTimeField:
    return models.DateTimeField(auto_now=True, db_default=Now())


class Integration(models.Model):
    id = uuid_pk()

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    service_type = models.CharField(max_length=50, choices=ServiceType.choices)
    category = models.CharField(
        max_length=50,
        choices=Category.choices,
        default="external",
        db_default="external",
    )

    base_url = models.TextField(null=True, blank=True)
    health_check_endpoint = models.TextField(null=True, blank=True)
    auth_type = models.CharField(max_length=50, choices=AuthType.choices)
    auth_config = SealedJSONField(null=True, blank=True)

    is_active = models.BooleanField(default=True, db_default=True)
    is_critical = models.BooleanField(default=False, db_default=False)
    monitoring_enabled = models.BooleanField(default=True, db_default=True)
    health_check_interval_minutes = models.IntegerField(default=5, db_default=5)
    timeout_seconds = models.IntegerField(default=30, db_default=30)

    current_health_status = models.CharField(
        max_length=20,
        choices=HealthStatus.choices,
        default="unknown",
        db_default="unknown",
    )
    last_health_check = models.DateTimeField(null=True, blank=True)
    last_successful_check = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.IntegerField(default=0, db_default=0)

    icon_url = models.TextField(null=True, blank=True)
    documentation_url = models.TextField(null=True, blank=True)
    responsible_team = models.CharField(max_length=100, null=True, blank=True)
    environment = models.CharField(
        max_length=20,
        choices=Environment.choices,
        default="production",
        db_default="production",
    )
    version = models.CharField(max_length=50, null=True, blank=True)

    custom_headers = SealedJSONField(null=True, blank=True)
    expected_response_codes = ArrayField(
        models.IntegerField(), default=default_response_codes, db_default=[200]
    )
    health_check_method = models.CharField(
        max_length=10, choices=Method.choices, default="GET", db_default="GET"
    )
    health_check_body = models.TextField(null=True, blank=True)

    # Beyond the requirements' schema: what the check engine needs.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_response_time_ms = models.IntegerField(null=True, blank=True)
    expected_response_content = models.TextField(
        null=True,
        blank=True,
        help_text="Text the response body must contain for the check to pass.",
    )
    ssl_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "integrations"
        ordering = ["-is_critical", "display_name"]
        indexes = [
            models.Index(
                fields=["current_health_status", "is_active"],
                name="idx_integrations_status",
            ),
            models.Index(
                fields=["category", "service_type"], name="idx_integrations_category"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_health_status__in=HEALTH_STATUSES),
                name="integrations_current_health_status_check",
            ),
            models.CheckConstraint(
                condition=Q(environment__in=["development", "staging", "production"]),
                name="integrations_environment_check",
            ),
            models.CheckConstraint(
                condition=Q(health_check_method__in=["GET", "POST", "HEAD"]),
                name="integrations_health_check_method_check",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        errors: dict[str, Any] = dict(
            validation.check_timing(
                self.health_check_interval_minutes, self.timeout_seconds
            )
        )
        checks = [
            ("base_url", lambda: validation.check_url(self.base_url, required=True)),
            (
                "health_check_endpoint",
                lambda: validation.check_endpoint(self.health_check_endpoint),
            ),
            (
                "expected_response_codes",
                lambda: validation.check_response_codes(self.expected_response_codes),
            ),
            (
                "custom_headers",
                lambda: validation.check_headers(
                    self.custom_headers.reveal() if self.custom_headers else None
                ),
            ),
        ]
        for field, check in checks:
            try:
                check()
            except ValidationError as exc:
                errors[field] = exc.messages
        if errors:
            raise ValidationError(errors)

    @property
    def check_url(self) -> str:
        """The address a health check requests: base URL joined with the endpoint."""
        base = (self.base_url or "").rstrip("/")
        endpoint = self.health_check_endpoint or ""
        if endpoint and not endpoint.startswith(("/", "?")):
            endpoint = "/" + endpoint
        return base + endpoint


class HealthCheck(models.Model):
    id = uuid_pk()
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="health_checks"
    )

    check_timestamp = models.DateTimeField(default=timezone.now, db_default=Now())
    response_time_ms = models.IntegerField(null=True, blank=True)
    status_code = models.IntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)

    is_successful = models.BooleanField()
    health_status = models.CharField(max_length=20, choices=HealthStatus.choices)

    check_type = models.CharField(
        max_length=50, default="automated", db_default="automated"
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    dns_resolution_time_ms = models.IntegerField(null=True, blank=True)
    tcp_connection_time_ms = models.IntegerField(null=True, blank=True)
    ssl_handshake_time_ms = models.IntegerField(null=True, blank=True)

    availability_score = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True
    )
    performance_score = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True
    )

    # What kind of failure, when there was one: "timeout", "dns", "refused", ...
    error_kind = models.CharField(max_length=30, null=True, blank=True)

    created_at = created_at()

    class Meta:
        db_table = "integration_health_checks"
        ordering = ["-check_timestamp"]
        indexes = [
            models.Index(
                "integration",
                models.F("check_timestamp").desc(),
                name="idx_health_checks_integ_time",
            ),
            models.Index(
                "health_status",
                models.F("check_timestamp").desc(),
                name="idx_health_checks_status",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(health_status__in=HEALTH_STATUSES),
                name="integration_health_checks_health_status_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} at {self.check_timestamp:%Y-%m-%d %H:%M:%S}"


class DependencyType(models.TextChoices):
    HARD = "hard"
    SOFT = "soft"
    OPTIONAL = "optional"


class Dependency(models.Model):
    id = uuid_pk()
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="dependencies"
    )
    depends_on = models.ForeignKey(
        Integration,
        on_delete=models.CASCADE,
        related_name="dependants",
        db_column="depends_on_integration_id",
    )

    dependency_type = models.CharField(max_length=50, choices=DependencyType.choices)
    description = models.TextField(null=True, blank=True)

    failure_propagates = models.BooleanField(default=True, db_default=True)
    propagation_delay_minutes = models.IntegerField(default=0, db_default=0)

    created_at = created_at()

    class Meta:
        db_table = "integration_dependencies"
        verbose_name_plural = "dependencies"
        indexes = [
            models.Index(fields=["integration"], name="idx_dependencies_integration"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "depends_on"],
                name="integration_dependencies_unique_pair",
            ),
            models.CheckConstraint(
                condition=~Q(integration=models.F("depends_on")),
                name="integration_dependencies_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} depends on {self.depends_on_id}"


class SystemConfig(models.Model):
    id = uuid_pk()
    config_key = models.CharField(max_length=100, unique=True)
    config_value = models.JSONField()
    config_type = models.CharField(max_length=50, default="global", db_default="global")
    description = models.TextField(null=True, blank=True)

    validation_schema = models.JSONField(null=True, blank=True)
    is_encrypted = models.BooleanField(default=False, db_default=False)

    last_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "integration_system_config"
        verbose_name = "system config"
        verbose_name_plural = "system config"
        ordering = ["config_key"]

    def __str__(self) -> str:
        return self.config_key


class AuditEvent(models.Model):
    """Who changed what, and when; secrets in the details are masked."""

    id = uuid_pk()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=255, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = created_at()

    class Meta:
        db_table = "audit_events"
        ordering = ["-created_at"]
        indexes = [
            models.Index(models.F("created_at").desc(), name="idx_audit_events_time"),
            models.Index(
                fields=["object_type", "object_id"], name="idx_audit_events_object"
            ),
            models.Index(fields=["actor", "created_at"], name="idx_audit_events_actor"),
        ]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{who} {self.action} {self.object_type} {self.object_id}"
