"""What the API shows and accepts for integrations and the rows around them.

The checks are those of validation.py and credentials.py, shared with the admin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts_app.models import Incident
from integrations_app import credentials, validation
from integrations_app.models import (
    AuditEvent,
    Dependency,
    HealthCheck,
    Integration,
    SystemConfig,
)
from metrics_app.models import Metric
from metrics_app.serializers import MetricSerializer
from monitor_project.api import ReadableFieldsOnce
from monitor_project.sealing import Sealed

UNRESOLVED = ("open", "acknowledged")

# Credentials a check cannot run without, per auth type.
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "none": (),
    "api_key": ("api_key",),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "oauth": ("token_url", "client_id", "client_secret"),
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_QUERY_PARAM = re.compile(r"^[A-Za-z0-9_.~-]{1,128}$")
MAX_TEXT = 10_000
MAX_CONTENT = 4096


def django_check(check: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run a shared check, turning its error into the API's field error."""
    try:
        check(*args, **kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


def check_link(value: str | None) -> str | None:
    """Accept only http(s) links: the frontend renders them."""
    if not value:
        return value
    if len(value) > validation.MAX_URL_LENGTH:
        raise serializers.ValidationError(
            f"At most {validation.MAX_URL_LENGTH} characters."
        )
    if any(ch in value for ch in "\r\n\t\x00 "):
        raise serializers.ValidationError("A URL may not contain spaces.")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise serializers.ValidationError("Not a valid URL.") from None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise serializers.ValidationError("Only http and https URLs are allowed.")
    return value


def _revealed(sealed: Sealed | None) -> dict[str, Any]:
    return sealed.reveal() if sealed else {}


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "additionalProperties": {"type": "string", "nullable": True},
        "description": (
            "Write-only credentials. A read shows the names of the keys that are "
            f"set, each as {credentials.PLACEHOLDER!r}. On write, a key sent empty "
            "or as the placeholder keeps its stored value; null clears them all."
        ),
    }
)
class CredentialsField(serializers.Field):  # type: ignore[type-arg]
    def to_representation(self, value: Any) -> dict[str, str]:
        return credentials.describe(value)

    def to_internal_value(self, data: Any) -> dict[str, str | None]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Give an object of names to values.")
        for key, value in data.items():
            if key not in credentials.ALL_AUTH_KEYS:
                raise serializers.ValidationError(
                    f"{str(key)[:40]!r} is not a credential name."
                )
            if value is None:
                continue
            if not isinstance(value, str):
                raise serializers.ValidationError(f"The value of {key} must be text.")
            if len(value) > credentials.MAX_SECRET_LENGTH:
                raise serializers.ValidationError(
                    f"The value of {key} is longer than "
                    f"{credentials.MAX_SECRET_LENGTH}."
                )
            if any(ch in value for ch in "\r\n\x00"):
                raise serializers.ValidationError(
                    f"The value of {key} may not contain CR, LF or NUL."
                )
        return data


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "additionalProperties": {"type": "string"},
        "description": (
            "Header names to values; values are write-only. A read shows each name "
            f"with {credentials.PLACEHOLDER!r}; sending the placeholder keeps that "
            "header's stored value. Names left out are removed; null clears all."
        ),
    }
)
class HeadersField(serializers.Field):  # type: ignore[type-arg]
    def to_representation(self, value: Any) -> dict[str, str]:
        return credentials.describe(value)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        django_check(validation.check_headers, data)
        return dict(data)


class IntegrationSerializer(
    ReadableFieldsOnce, serializers.ModelSerializer[Integration]
):
    auth_config = CredentialsField(required=False, allow_null=True)
    custom_headers = HeadersField(required=False, allow_null=True)
    open_incidents_count = serializers.SerializerMethodField()
    recent_metrics = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = "__all__"
        read_only_fields = [
            "id",
            "current_health_status",
            "last_health_check",
            "last_successful_check",
            "consecutive_failures",
            "next_check_at",
            "last_response_time_ms",
            "ssl_expires_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "base_url": {"required": True, "allow_null": False, "allow_blank": False},
            "health_check_interval_minutes": {
                "min_value": validation.MIN_INTERVAL_MINUTES,
                "max_value": validation.MAX_INTERVAL_MINUTES,
            },
            "timeout_seconds": {
                "min_value": validation.MIN_TIMEOUT_SECONDS,
                "max_value": validation.MAX_TIMEOUT_SECONDS,
            },
            "description": {"max_length": MAX_TEXT},
            "health_check_body": {"max_length": validation.MAX_BODY_LENGTH},
            "expected_response_content": {"max_length": MAX_CONTENT},
            "icon_url": {"max_length": validation.MAX_URL_LENGTH},
            "documentation_url": {"max_length": validation.MAX_URL_LENGTH},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What changed among the secrets, by name only, for the audit trail.
        self.audit_extras: dict[str, Any] = {}
        self._metric_serializer: MetricSerializer | None = None

    def get_open_incidents_count(self, obj: Integration) -> int:
        annotated = getattr(obj, "open_incidents_count", None)
        if annotated is not None:
            return int(annotated)
        return Incident.objects.filter(integration=obj, status__in=UNRESOLVED).count()

    @extend_schema_field(MetricSerializer(allow_null=True))
    def get_recent_metrics(self, obj: Integration) -> dict[str, Any] | None:
        if hasattr(obj, "recent_metric"):
            metric = obj.recent_metric
        else:
            metric = Metric.objects.filter(integration=obj).first()
        if metric is None:
            return None
        # One nested serializer for the whole page: building one per row costs
        # more than the rows themselves.
        if self._metric_serializer is None:
            self._metric_serializer = MetricSerializer()
        return self._metric_serializer.to_representation(metric)

    def validate_name(self, value: str) -> str:
        if not _NAME.match(value):
            raise serializers.ValidationError(
                "Use letters, digits, '_', '.' and '-', from a letter or digit."
            )
        return value

    def validate_base_url(self, value: str) -> str:
        django_check(validation.check_url, value, required=True)
        return value

    def validate_health_check_endpoint(self, value: str | None) -> str | None:
        django_check(validation.check_endpoint, value)
        return value

    def validate_expected_response_codes(self, value: list[int]) -> list[int]:
        django_check(validation.check_response_codes, value)
        return value

    def validate_icon_url(self, value: str | None) -> str | None:
        return check_link(value)

    def validate_documentation_url(self, value: str | None) -> str | None:
        return check_link(value)

    def _current(self, attrs: dict[str, Any], name: str, default: Any) -> Any:
        if name in attrs:
            return attrs[name]
        return getattr(self.instance, name) if self.instance else default

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors = validation.check_timing(
            self._current(attrs, "health_check_interval_minutes", 5),
            self._current(attrs, "timeout_seconds", 30),
        )
        if errors:
            raise serializers.ValidationError(errors)

        auth_type = self._current(attrs, "auth_type", "none")
        stored_auth = self.instance.auth_config if self.instance else None
        if "auth_config" in attrs or (
            self.instance and auth_type != self.instance.auth_type
        ):
            attrs["auth_config"] = self._credentials(
                auth_type, stored_auth, attrs.get("auth_config", {})
            )
        elif not self.instance:
            self._check_required(auth_type, {})

        if "custom_headers" in attrs:
            attrs["custom_headers"] = self._headers(attrs["custom_headers"])
        return attrs

    def _credentials(
        self, auth_type: str, stored: Sealed | None, sent: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        allowed = credentials.AUTH_FIELDS[auth_type]
        if sent is None:
            self._check_required(auth_type, {})
            if stored:
                self.audit_extras["credentials_changed"] = stored.keys
            return None
        for key, value in sent.items():
            if key not in allowed and not credentials.keeps(value):
                raise serializers.ValidationError(
                    {"auth_config": f"{key} does not apply to auth type {auth_type}."}
                )
        before = _revealed(stored)
        values = credentials.merged(stored, sent, allowed)
        self._check_required(auth_type, values)

        if "token_url" in values:
            try:
                django_check(validation.check_url, values["token_url"], required=True)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(
                    {"auth_config": [f"token_url: {m}" for m in exc.detail]}  # type: ignore[union-attr]
                ) from None
        if values.get("header_name"):
            try:
                django_check(validation.check_header, values["header_name"], "")
            except serializers.ValidationError:
                raise serializers.ValidationError(
                    {"auth_config": "header_name is not a valid header name."}
                ) from None
        if values.get("query_param") and not _QUERY_PARAM.match(values["query_param"]):
            raise serializers.ValidationError(
                {"auth_config": "query_param may hold letters, digits and _.~- only."}
            )

        changed = sorted(
            key
            for key in set(before) | set(values)
            if before.get(key) != values.get(key)
        )
        if changed:
            self.audit_extras["credentials_changed"] = changed
        return values or None

    def _check_required(self, auth_type: str, values: dict[str, Any]) -> None:
        missing = [k for k in REQUIRED_CREDENTIALS[auth_type] if not values.get(k)]
        if missing:
            raise serializers.ValidationError(
                {"auth_config": f"Auth type {auth_type} needs {', '.join(missing)}."}
            )

    def _headers(self, sent: dict[str, Any] | None) -> dict[str, str] | None:
        if not sent:
            if self.instance and self.instance.custom_headers:
                self.audit_extras["headers_changed"] = self.instance.custom_headers.keys
            return None
        stored = _revealed(self.instance.custom_headers if self.instance else None)
        headers: dict[str, str] = {}
        for name, value in sent.items():
            if value == credentials.PLACEHOLDER:
                if name not in stored:
                    raise serializers.ValidationError(
                        {"custom_headers": f"No stored value to keep for {name}."}
                    )
                value = stored[name]
            headers[name] = value
        changed = sorted(
            n for n in set(stored) | set(headers) if stored.get(n) != headers.get(n)
        )
        if changed:
            self.audit_extras["headers_changed"] = changed
        return headers


class ManualCheckResultSerializer(serializers.Serializer[HealthCheck]):
    health_status = serializers.CharField()
    response_time_ms = serializers.IntegerField(allow_null=True)
    status_code = serializers.IntegerField(allow_null=True)
    is_successful = serializers.BooleanField()
    error_message = serializers.CharField(allow_null=True)
    tested_at = serializers.DateTimeField(source="check_timestamp")


class HealthCheckSerializer(
    ReadableFieldsOnce, serializers.ModelSerializer[HealthCheck]
):
    triggered_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = HealthCheck
        exclude = ["response_body"]
        read_only_fields = [f.name for f in HealthCheck._meta.concrete_fields]


class HealthCheckDetailSerializer(HealthCheckSerializer):
    class Meta(HealthCheckSerializer.Meta):
        exclude = []
        fields = "__all__"


class UptimeSerializer(serializers.Serializer[dict[str, Any]]):
    window = serializers.ChoiceField(choices=["24h", "7d", "30d"])
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    total_checks = serializers.IntegerField()
    incident_count = serializers.IntegerField()
    avg_response_time_ms = serializers.FloatField(allow_null=True)
    p95_response_time_ms = serializers.FloatField(allow_null=True)


class DependencySerializer(ReadableFieldsOnce, serializers.ModelSerializer[Dependency]):
    integration_name = serializers.CharField(
        source="integration.display_name", read_only=True
    )
    depends_on_name = serializers.CharField(
        source="depends_on.display_name", read_only=True
    )

    class Meta:
        model = Dependency
        fields = [
            "id",
            "integration",
            "integration_name",
            "depends_on",
            "depends_on_name",
            "dependency_type",
            "description",
            "failure_propagates",
            "propagation_delay_minutes",
            "created_at",
        ]
        extra_kwargs = {
            "propagation_delay_minutes": {"min_value": 0, "max_value": 1440},
            "description": {"max_length": MAX_TEXT},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        source = attrs.get("integration") or getattr(self.instance, "integration", None)
        target = attrs.get("depends_on") or getattr(self.instance, "depends_on", None)
        if source is None or target is None:
            return attrs
        if source.pk == target.pk:
            raise serializers.ValidationError(
                {"depends_on": "An integration cannot depend on itself."}
            )
        if creates_cycle(source.pk, target.pk, self.instance):
            raise serializers.ValidationError(
                {"depends_on": f"{target} already depends, via others, on {source}."}
            )
        return attrs


def creates_cycle(source: Any, target: Any, replacing: Dependency | None) -> bool:
    """Tell whether the edge source -> target closes a loop in the graph."""
    edges: dict[Any, list[Any]] = {}
    rows = Dependency.objects.all()
    if replacing is not None:
        rows = rows.exclude(pk=replacing.pk)
    for start, end in rows.values_list("integration_id", "depends_on_id"):
        edges.setdefault(start, []).append(end)

    seen, frontier = {target}, [target]
    while frontier:
        node = frontier.pop()
        if node == source:
            return True
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return False


# Known keys and what their values must be: the engines read them as such.
CONFIG_RULES: dict[str, dict[str, Any]] = {
    "default_health_check_interval": {
        "type": "integer",
        "minimum": validation.MIN_INTERVAL_MINUTES,
        "maximum": validation.MAX_INTERVAL_MINUTES,
    },
    "default_timeout_seconds": {
        "type": "integer",
        "minimum": validation.MIN_TIMEOUT_SECONDS,
        "maximum": validation.MAX_TIMEOUT_SECONDS,
    },
    "max_consecutive_failures": {"type": "integer", "minimum": 1, "maximum": 100},
    "alert_cooldown_minutes": {"type": "integer", "minimum": 0, "maximum": 10080},
    "metrics_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    "health_check_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    "enable_auto_recovery_detection": {"type": "boolean"},
    "business_hours_start": {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    },
    "business_hours_end": {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    },
    "notification_rate_limit": {"type": "integer", "minimum": 1, "maximum": 1000},
}
_CONFIG_KEY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@extend_schema_field(OpenApiTypes.ANY)
class AnyJSONField(serializers.JSONField):
    pass


class SystemConfigSerializer(serializers.ModelSerializer[SystemConfig]):
    config_value = AnyJSONField()
    last_updated_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = SystemConfig
        fields = [
            "id",
            "config_key",
            "config_value",
            "config_type",
            "description",
            "validation_schema",
            "is_encrypted",
            "last_updated_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "last_updated_by", "created_at", "updated_at"]
        extra_kwargs = {"description": {"max_length": MAX_TEXT}}

    def to_representation(self, instance: SystemConfig) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.is_encrypted:
            data["config_value"] = credentials.PLACEHOLDER
        return data

    def validate_config_key(self, value: str) -> str:
        if self.instance is not None and value != self.instance.config_key:
            raise serializers.ValidationError("A key cannot be renamed.")
        if not _CONFIG_KEY.match(value):
            raise serializers.ValidationError(
                "Use lower-case letters, digits and '_', starting with a letter."
            )
        return value

    def validate_validation_schema(self, value: Any) -> Any:
        if value is None:
            return value
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise serializers.ValidationError(
                f"Not a JSON schema: {exc.message}"
            ) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        key = str(attrs.get("config_key") or getattr(self.instance, "config_key", ""))
        encrypted = attrs.get(
            "is_encrypted", getattr(self.instance, "is_encrypted", False)
        )
        if "config_value" in attrs:
            value = attrs["config_value"]
            if (
                encrypted
                and self.instance is not None
                and value == credentials.PLACEHOLDER
            ):
                attrs["config_value"] = self.instance.config_value
            else:
                schema = attrs.get(
                    "validation_schema",
                    getattr(self.instance, "validation_schema", None),
                )
                for rule in (CONFIG_RULES.get(key), schema):
                    if rule and not _matches(rule, value):
                        raise serializers.ValidationError(
                            {"config_value": f"Not a valid value for {key}."}
                        )
        elif self.instance is None:
            raise serializers.ValidationError(
                {"config_value": "This field is required."}
            )
        return attrs


def _matches(schema: dict[str, Any], value: Any) -> bool:
    # JSON schema treats true as an integer-compatible value; the engines do not.
    if schema.get("type") == "integer" and isinstance(value, bool):
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(value)


class AuditEventSerializer(ReadableFieldsOnce, serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "actor",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "details",
            "created_at",
        ]
        read_only_fields = fields


class CountsByStatusSerializer(serializers.Serializer[dict[str, int]]):
    healthy = serializers.IntegerField()
    warning = serializers.IntegerField()
    critical = serializers.IntegerField()
    unknown = serializers.IntegerField()


class CountsBySeveritySerializer(serializers.Serializer[dict[str, int]]):
    info = serializers.IntegerField()
    warning = serializers.IntegerField()
    critical = serializers.IntegerField()
    urgent = serializers.IntegerField()


class DownIntegrationSerializer(
    ReadableFieldsOnce, serializers.ModelSerializer[Integration]
):
    class Meta:
        model = Integration
        fields = [
            "id",
            "name",
            "display_name",
            "current_health_status",
            "last_health_check",
            "last_successful_check",
            "consecutive_failures",
        ]
        read_only_fields = fields


class DashboardIntegrationsSerializer(serializers.Serializer[dict[str, Any]]):
    total = serializers.IntegerField()
    by_status = CountsByStatusSerializer()


class DashboardIncidentsSerializer(serializers.Serializer[dict[str, Any]]):
    total = serializers.IntegerField()
    by_severity = CountsBySeveritySerializer()


class DashboardUptimeSerializer(serializers.Serializer[dict[str, Any]]):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    total_checks = serializers.IntegerField()
    successful_checks = serializers.IntegerField()


class DashboardSerializer(serializers.Serializer[dict[str, Any]]):
    integrations = DashboardIntegrationsSerializer(
        help_text="Active integrations, counted by current status."
    )
    critical_down = DownIntegrationSerializer(
        many=True, help_text="Active critical integrations whose status is critical."
    )
    open_incidents = DashboardIncidentsSerializer(
        help_text="Incidents open or acknowledged, counted by severity."
    )
    uptime_24h = DashboardUptimeSerializer(
        help_text="Checks that passed among all checks of the last 24 hours."
    )
    generated_at = serializers.DateTimeField()
