from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from alerts_app import incidents
from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from monitor_project.admin_roles import RoleAdmin, RoleTabularInline
from monitor_project.roles import MANAGERS


class AlertRuleInline(RoleTabularInline):
    model = AlertRule
    view_roles = MANAGERS
    fields = [
        "rule_name",
        "alert_type",
        "condition_metric",
        "condition_operator",
        "condition_threshold",
        "condition_duration_minutes",
        "severity",
        "is_active",
    ]
    show_change_link = True


class AlertRuleForm(forms.ModelForm):
    """The webhook secret is write-only: blank keeps what is stored."""

    new_webhook_secret = forms.CharField(
        required=False,
        label="Webhook secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Signs this rule's webhook bodies. Leave blank to keep the "
        "current one; without one ALERT_WEBHOOK_SECRET signs them.",
        max_length=512,
    )
    clear_webhook_secret = forms.BooleanField(
        required=False, label="Clear the webhook secret"
    )

    class Meta:
        model = AlertRule
        fields = [
            "integration",
            "rule_name",
            "rule_description",
            "alert_type",
            "condition_metric",
            "condition_operator",
            "condition_threshold",
            "condition_duration_minutes",
            "severity",
            "auto_resolve",
            "cooldown_minutes",
            "notification_channels",
            "notification_recipients",
            "escalation_enabled",
            "escalation_after_minutes",
            "escalation_recipients",
            "is_active",
            "business_hours_only",
            "business_hours_start",
            "business_hours_end",
            "business_days",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        value = cleaned.get("new_webhook_secret")
        if cleaned.get("clear_webhook_secret"):
            self.instance.webhook_secret = None
        elif value:
            self.instance.webhook_secret = {"secret": value}
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        # Errors about the secret belong to the field the user typed it into.
        if hasattr(errors, "error_dict") and "webhook_secret" in errors.error_dict:
            moved = dict(errors.error_dict)
            moved["new_webhook_secret"] = moved.pop("webhook_secret")
            errors = ValidationError(moved)
        super()._update_errors(errors)  # type: ignore[misc]


@admin.register(AlertRule)
class AlertRuleAdmin(RoleAdmin):
    form = AlertRuleForm
    view_roles = MANAGERS
    list_display = [
        "rule_name",
        "integration",
        "condition",
        "severity",
        "is_active",
        "last_triggered",
        "trigger_count",
    ]
    list_filter = ["severity", "alert_type", "condition_metric", "is_active"]
    list_select_related = ["integration"]
    search_fields = ["rule_name", "rule_description", "integration__display_name"]
    autocomplete_fields = ["integration"]
    readonly_fields = [
        "last_triggered",
        "trigger_count",
        "created_by",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="condition")
    def condition(self, obj: AlertRule) -> str:
        return (
            f"{obj.condition_metric} {obj.condition_operator} {obj.condition_threshold}"
        )

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Incident)
class IncidentAdmin(RoleAdmin):
    can_add = False
    list_display = [
        "triggered_at",
        "integration",
        "severity",
        "status",
        "escalation_level",
        "acknowledged_by",
        "resolved_at",
    ]
    list_filter = ["status", "severity", "business_impact"]
    list_select_related = ["integration", "acknowledged_by"]
    search_fields = ["alert_message", "integration__display_name"]
    date_hierarchy = "triggered_at"
    actions = ["acknowledge", "resolve", "suppress"]
    readonly_fields = [
        "status",
        "alert_rule",
        "integration",
        "triggered_at",
        "trigger_value",
        "threshold_value",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_by",
        "resolved_at",
        "duration_minutes",
        "escalation_level",
        "escalated_at",
        "escalated_to",
        "notifications_sent",
        "created_at",
        "updated_at",
    ]

    def _apply(self, request: HttpRequest, queryset: Any, change: Any) -> None:
        # Status moves only through the lifecycle, which audits and announces.
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                change(pk)
            except (incidents.InvalidTransition, incidents.IncidentConflict) as exc:
                self.message_user(request, f"{pk}: {exc}", messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{done} incidents changed.", messages.SUCCESS)

    @admin.action(description="Acknowledge the selected incidents")
    def acknowledge(self, request: HttpRequest, queryset: Any) -> None:
        self._apply(
            request, queryset, lambda pk: incidents.acknowledge(pk, request.user)
        )

    @admin.action(description="Resolve the selected incidents")
    def resolve(self, request: HttpRequest, queryset: Any) -> None:
        self._apply(
            request,
            queryset,
            lambda pk: incidents.resolve(pk, request.user, "Resolved in the admin."),
        )

    @admin.action(description="Suppress the selected incidents")
    def suppress(self, request: HttpRequest, queryset: Any) -> None:
        self._apply(
            request,
            queryset,
            lambda pk: incidents.suppress(pk, request.user, "Suppressed in the admin."),
        )


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(RoleAdmin):
    list_display = [
        "title",
        "status",
        "scheduled_start",
        "scheduled_end",
        "expected_impact",
        "requires_approval",
        "approved_by",
    ]
    list_filter = ["status", "maintenance_type", "expected_impact", "requires_approval"]
    search_fields = ["title", "description"]
    filter_horizontal = ["affected_integrations"]
    readonly_fields = [
        "actual_start",
        "actual_end",
        "notifications_sent",
        "approved_by",
        "approved_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    actions = ["approve"]

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Approve the selected maintenance windows")
    def approve(self, request: HttpRequest, queryset: Any) -> None:
        from integrations_app import audit

        now = timezone.now()
        for window in queryset.filter(approved_at__isnull=True):
            window.approved_by = request.user
            window.approved_at = now
            window.save(update_fields=["approved_by", "approved_at", "updated_at"])
            audit.record(request.user, "approve", window)
