"""What the API shows and accepts for alert rules, incidents and maintenance."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlsplit

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts_app import validation as rules
from alerts_app.models import (
    AlertRule,
    Channel,
    Incident,
    MaintenanceStatus,
    MaintenanceWindow,
)
from integrations_app import validation
from integrations_app.credentials import PLACEHOLDER
from integrations_app.models import Integration
from monitor_project.api import ReadableFieldsOnce

MAX_TEXT = 10_000
MAX_WINDOW = datetime.timedelta(days=31)


def is_link(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def masked(value: str) -> str:
    """Hide the path and query of a webhook URL: they carry its secret."""
    if not is_link(value):
        return value
    try:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname}/{PLACEHOLDER}"
    except ValueError:
        return PLACEHOLDER


@extend_schema_field(
    {
        "type": "array",
        "nullable": True,
        "items": {"type": "string", "maxLength": validation.MAX_URL_LENGTH},
        "maxItems": rules.MAX_RECIPIENTS,
        "description": (
            "Email addresses, phone numbers (+E.164), Slack or webhook https "
            "URLs; each channel needs one of its kind. URLs read "
            f"back masked ('https://host/{PLACEHOLDER}'); sending a masked URL "
            "back keeps the stored one."
        ),
    }
)
class RecipientsField(serializers.ListField):
    child = serializers.CharField(max_length=validation.MAX_URL_LENGTH)
    max_length = rules.MAX_RECIPIENTS

    def to_representation(self, data: Any) -> list[str]:
        return [masked(value) for value in data or []]


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        "example": "08:00",
        "description": "Local time of day in TIME_ZONE, HH:MM.",
    }
)
class ClockTimeField(serializers.TimeField):
    """A time of day without a zone: JSON schema's 'time' format demands one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


class AlertRuleSerializer(ReadableFieldsOnce, serializers.ModelSerializer[AlertRule]):
    """Checked by the same rule_errors as the admin, so both accept the same rules."""

    business_hours_start = ClockTimeField(required=False)
    business_hours_end = ClockTimeField(required=False)
    integration_name = serializers.CharField(
        source="integration.display_name", read_only=True, default=None
    )
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    notification_channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        min_length=1,
        max_length=len(Channel.choices),
    )
    notification_recipients = RecipientsField(required=False, allow_null=True)
    escalation_recipients = RecipientsField(required=False, allow_null=True)
    business_days = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7),
        min_length=1,
        max_length=7,
        required=False,
        help_text="1 is Monday, 7 is Sunday.",
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        max_length=512,
        help_text=(
            "Signs this rule's webhook bodies (16 to 512 characters). Write-only: "
            f"omitted or {PLACEHOLDER!r} keeps it, null clears it."
        ),
    )
    webhook_secret_set = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = "__all__"
        read_only_fields = [
            "id",
            "last_triggered",
            "trigger_count",
            "created_by",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "rule_description": {"max_length": MAX_TEXT},
            "condition_threshold": {
                "min_value": -rules.MAX_THRESHOLD + 1,
                "max_value": rules.MAX_THRESHOLD - 1,
            },
            "condition_duration_minutes": {
                "min_value": 0,
                "max_value": rules.MAX_DURATION_MINUTES,
            },
            "cooldown_minutes": {
                "min_value": 0,
                "max_value": rules.MAX_DURATION_MINUTES,
            },
            "escalation_after_minutes": {
                "min_value": 1,
                "max_value": rules.MAX_DURATION_MINUTES,
            },
        }

    def get_webhook_secret_set(self, obj: AlertRule) -> bool:
        return bool(obj.webhook_secret)

    def validate_notification_channels(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each channel once.")
        return value

    def validate_business_days(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each day once.")
        return sorted(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("notification_recipients", "escalation_recipients"):
            if attrs.get(name) is not None:
                attrs[name] = self._unmasked(name, attrs[name])

        if "webhook_secret" in attrs:
            secret = attrs.pop("webhook_secret")
            if secret is None:
                attrs["webhook_secret"] = None
            elif secret != PLACEHOLDER:
                attrs["webhook_secret"] = {"secret": secret}

        # Check the rule as it would be stored, on a copy that is never saved.
        draft = AlertRule()
        if self.instance is not None:
            for field in AlertRule._meta.concrete_fields:
                setattr(draft, field.attname, getattr(self.instance, field.attname))
        for name, value in attrs.items():
            setattr(draft, name, value)
        errors = rules.rule_errors(draft)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _unmasked(self, name: str, sent: list[str]) -> list[str]:
        stored = getattr(self.instance, name, None) or []
        by_mask = {masked(value): value for value in stored}
        kept: list[str] = []
        for value in sent:
            if PLACEHOLDER in value:
                if value not in by_mask:
                    raise serializers.ValidationError(
                        {name: f"{value[:80]!r} matches no stored recipient."}
                    )
                value = by_mask[value]
            kept.append(value)
        if len(set(kept)) != len(kept):
            raise serializers.ValidationError({name: "Name each recipient once."})
        return kept


class IncidentSerializer(ReadableFieldsOnce, serializers.ModelSerializer[Incident]):
    # Annotated by the view: staff may not read alert rules, so theirs is null.
    alert_rule_name = serializers.CharField(read_only=True, allow_null=True)
    integration_name = serializers.CharField(
        source="integration.display_name", read_only=True
    )
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    resolved_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    escalated_to = RecipientsField(read_only=True)
    affected_services = serializers.ListField(
        child=serializers.CharField(max_length=255),
        max_length=100,
        required=False,
        allow_null=True,
    )

    class Meta:
        model = Incident
        exclude = ["notifications_sent"]
        # Managers may describe the impact; everything else follows the lifecycle.
        read_only_fields = [
            f.name
            for f in Incident._meta.concrete_fields
            if f.name
            not in {"business_impact", "estimated_affected_users", "affected_services"}
        ]
        extra_kwargs = {
            "estimated_affected_users": {"min_value": 0, "max_value": 1_000_000_000},
        }


class ResolveSerializer(serializers.Serializer[Incident]):
    resolution_note = serializers.CharField(
        max_length=MAX_TEXT, required=False, allow_blank=True, default=""
    )


class IntegrationIdsField(serializers.ListField):
    """Integration ids checked in one query, however many are sent."""

    child = serializers.UUIDField()
    max_length = 1000

    def to_representation(self, data: Any) -> list[str]:
        return [str(i.pk) for i in data.all()]

    def to_internal_value(self, data: Any) -> list[Integration]:
        ids = list(dict.fromkeys(super().to_internal_value(data)))
        found = list(Integration.objects.filter(pk__in=ids))
        missing = set(ids) - {i.pk for i in found}
        if missing:
            raise serializers.ValidationError(
                f"No integration with id {sorted(map(str, missing))[0]}."
            )
        return found


class MaintenanceWindowSerializer(
    ReadableFieldsOnce, serializers.ModelSerializer[MaintenanceWindow]
):
    affected_integrations = IntegrationIdsField(min_length=1)
    affected_services = serializers.ListField(
        child=serializers.CharField(max_length=255),
        max_length=100,
        required=False,
        allow_null=True,
    )
    approved_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    status = serializers.ChoiceField(
        choices=MaintenanceStatus.choices,
        required=False,
        help_text="Set by the scheduler; a client may only set 'cancelled'.",
    )

    class Meta:
        model = MaintenanceWindow
        fields = "__all__"
        read_only_fields = [
            "id",
            "actual_start",
            "actual_end",
            "notifications_sent",
            "approved_by",
            "approved_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "description": {"max_length": MAX_TEXT},
            "impact_description": {"max_length": MAX_TEXT},
            "notification_advance_hours": {"min_value": 0, "max_value": 720},
        }

    def validate_status(self, value: str) -> str:
        current = self.instance.status if self.instance else "scheduled"
        if value == current:
            return value
        if value == "cancelled" and current in {"scheduled", "in_progress"}:
            return value
        raise serializers.ValidationError(
            f"Cannot change from {current} to {value}; only cancelling is allowed."
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = attrs.get("scheduled_start") or getattr(
            self.instance, "scheduled_start", None
        )
        end = attrs.get("scheduled_end") or getattr(
            self.instance, "scheduled_end", None
        )
        if start and end:
            if end <= start:
                raise serializers.ValidationError(
                    {"scheduled_end": "Must be later than scheduled_start."}
                )
            if end - start > MAX_WINDOW:
                raise serializers.ValidationError(
                    {"scheduled_end": f"A window lasts at most {MAX_WINDOW.days} days."}
                )
        if self.instance is not None and self.instance.status in {
            "completed",
            "cancelled",
        }:
            raise serializers.ValidationError(
                {"status": f"A {self.instance.status} window cannot be changed."}
            )
        return attrs

    def update(
        self, instance: MaintenanceWindow, validated_data: dict[str, Any]
    ) -> MaintenanceWindow:
        if instance.approved_at is not None and self._moves(instance, validated_data):
            # An approval covers the times and services it was given for.
            instance.approved_by = None
            instance.approved_at = None
        return super().update(instance, validated_data)

    @staticmethod
    def _moves(instance: MaintenanceWindow, data: dict[str, Any]) -> bool:
        for name in ("scheduled_start", "scheduled_end"):
            if name in data and data[name] != getattr(instance, name):
                return True
        if "affected_integrations" in data:
            before = set(instance.affected_integrations.values_list("pk", flat=True))
            return before != {i.pk for i in data["affected_integrations"]}
        return False
