from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from integrations_app import credentials, validation
from integrations_app.models import (
    AuditEvent,
    Dependency,
    HealthCheck,
    Integration,
    SystemConfig,
)
from monitor_project.admin_roles import ReadOnlyAdmin, RoleAdmin, RoleTabularInline
from monitor_project.roles import MANAGERS, SUPERADMINS

STATUS_COLOURS = {
    "healthy": "#1a7f37",
    "warning": "#9a6700",
    "critical": "#cf222e",
    "unknown": "#6e7781",
}

# Key names that are not secret are still write-only: the whole config is sealed.
_SECRET_WIDGET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})


def status_badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#6e7781")
    return format_html('<b style="color:{}">{}</b>', colour, status)


class IntegrationForm(forms.ModelForm):
    """Credentials and header values are write-only: blank keeps what is stored."""

    clear_auth_config = forms.BooleanField(
        required=False, label="Clear all credentials"
    )
    headers_text = forms.CharField(
        required=False,
        label="Custom headers",
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="One 'Name: value' per line. Leave blank to keep the stored headers.",
    )
    clear_custom_headers = forms.BooleanField(
        required=False, label="Clear custom headers"
    )

    class Meta:
        model = Integration
        fields = [
            f.name
            for f in Integration._meta.get_fields()
            if getattr(f, "editable", False)
            and f.concrete
            and not f.auto_created
            and f.name not in {"auth_config", "custom_headers"}
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.auth_config if self.instance.pk else None
        set_keys = set(stored.keys) if stored else set()
        for key in credentials.ALL_AUTH_KEYS:
            field = self.fields.get(f"auth_{key}")
            if field is not None:
                state = "set; blank keeps it" if key in set_keys else "not set"
                field.help_text = f"{field.help_text} Currently {state}."
        headers = self.instance.custom_headers if self.instance.pk else None
        if headers and "headers_text" in self.fields:
            names = ", ".join(headers.keys)
            self.fields["headers_text"].help_text = (
                f"Set: {names}. Values are hidden; enter all headers again to change "
                "them, or leave blank to keep them."
            )

    def clean_headers_text(self) -> dict[str, str] | None:
        text = self.cleaned_data.get("headers_text") or ""
        if not text.strip():
            return None
        headers: dict[str, str] = {}
        for line in text.replace("\r\n", "\n").split("\n"):
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise ValidationError(f"{line[:40]!r} is not 'Name: value'.")
            headers[name.strip()] = value.strip()
        validation.check_headers(headers)
        return headers

    def _post_clean(self) -> None:
        data = self.cleaned_data
        if data.get("clear_auth_config"):
            self.instance.auth_config = None
        else:
            updates = {
                key: data.get(f"auth_{key}") for key in credentials.ALL_AUTH_KEYS
            }
            auth_type = data.get("auth_type") or self.instance.auth_type or "none"
            allowed = credentials.AUTH_FIELDS.get(auth_type, ())
            values = credentials.merged(self.instance.auth_config, updates, allowed)
            self.instance.auth_config = values or None
        if data.get("clear_custom_headers"):
            self.instance.custom_headers = None
        elif data.get("headers_text"):
            self.instance.custom_headers = data["headers_text"]
        super()._post_clean()  # type: ignore[misc]


for _key in credentials.ALL_AUTH_KEYS:
    _takes = [t for t, keys in credentials.AUTH_FIELDS.items() if _key in keys]
    _field = forms.CharField(
        required=False,
        label=f"Credential: {_key}",
        max_length=credentials.MAX_SECRET_LENGTH,
        widget=_SECRET_WIDGET,
        help_text=f"For {', '.join(_takes)}.",
    )
    # The admin builds its form class from declared_fields, so declare there too.
    IntegrationForm.base_fields[f"auth_{_key}"] = _field
    IntegrationForm.declared_fields[f"auth_{_key}"] = _field


class DependencyInline(RoleTabularInline):
    model = Dependency
    fk_name = "integration"
    fields = [
        "depends_on",
        "dependency_type",
        "failure_propagates",
        "propagation_delay_minutes",
    ]
    autocomplete_fields = ["depends_on"]


_CHECK_COLUMNS = (
    "check_timestamp",
    "health_status",
    "status_code",
    "response_time_ms",
    "error_message",
)


class RecentHealthCheckInline(RoleTabularInline):
    model = HealthCheck
    edit_roles = frozenset()
    fields = _CHECK_COLUMNS
    readonly_fields = _CHECK_COLUMNS
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "latest health checks"

    def get_queryset(self, request: HttpRequest) -> QuerySet[HealthCheck]:
        # The inline's own query is bounded by the formset; keep the newest first.
        return super().get_queryset(request).order_by("-check_timestamp")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)

        class Latest(formset):  # type: ignore[misc, valid-type]
            def get_queryset(self) -> Any:
                return super().get_queryset()[:20]

        return Latest


@admin.register(Integration)
class IntegrationAdmin(RoleAdmin):
    form = IntegrationForm
    list_display = [
        "display_name",
        "status",
        "is_critical",
        "service_type",
        "category",
        "environment",
        "last_health_check",
        "consecutive_failures",
        "last_response_time_ms",
        "is_active",
    ]
    list_filter = [
        "current_health_status",
        "is_critical",
        "category",
        "service_type",
        "environment",
        "is_active",
        "monitoring_enabled",
    ]
    search_fields = ["name", "display_name", "description", "responsible_team"]
    ordering = ["-is_critical", "display_name"]
    readonly_fields = [
        "current_health_status",
        "last_health_check",
        "last_successful_check",
        "consecutive_failures",
        "last_response_time_ms",
        "ssl_expires_at",
        "next_check_at",
        "created_at",
        "updated_at",
    ]
    inlines = [DependencyInline, RecentHealthCheckInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "display_name",
                    "description",
                    "service_type",
                    "category",
                    "environment",
                    "version",
                    "responsible_team",
                    "icon_url",
                    "documentation_url",
                ]
            },
        ),
        (
            "Health check",
            {
                "fields": [
                    "base_url",
                    "health_check_endpoint",
                    "health_check_method",
                    "health_check_body",
                    "expected_response_codes",
                    "expected_response_content",
                    "health_check_interval_minutes",
                    "timeout_seconds",
                    "is_active",
                    "monitoring_enabled",
                    "is_critical",
                ]
            },
        ),
        (
            "Credentials (write-only)",
            {
                "fields": [
                    "auth_type",
                    *[f"auth_{key}" for key in credentials.ALL_AUTH_KEYS],
                    "clear_auth_config",
                    "headers_text",
                    "clear_custom_headers",
                ]
            },
        ),
        (
            "Status",
            {
                "fields": [
                    "current_health_status",
                    "last_health_check",
                    "last_successful_check",
                    "consecutive_failures",
                    "last_response_time_ms",
                    "ssl_expires_at",
                    "next_check_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        from alerts_app.admin import AlertRuleInline

        return [AlertRuleInline, *self.inlines]

    @admin.display(description="status", ordering="current_health_status")
    def status(self, obj: Integration) -> str:
        return status_badge(obj.current_health_status)


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdmin):
    list_display = [
        "check_timestamp",
        "integration",
        "status",
        "status_code",
        "response_time_ms",
        "check_type",
        "error_kind",
    ]
    list_filter = ["health_status", "check_type", "error_kind"]
    list_select_related = ["integration"]
    search_fields = ["integration__display_name", "error_message"]
    date_hierarchy = "check_timestamp"
    show_full_result_count = False

    @admin.display(description="status", ordering="health_status")
    def status(self, obj: HealthCheck) -> str:
        return status_badge(obj.health_status)


@admin.register(Dependency)
class DependencyAdmin(RoleAdmin):
    list_display = [
        "integration",
        "depends_on",
        "dependency_type",
        "failure_propagates",
    ]
    list_filter = ["dependency_type", "failure_propagates"]
    list_select_related = ["integration", "depends_on"]
    autocomplete_fields = ["integration", "depends_on"]


@admin.register(SystemConfig)
class SystemConfigAdmin(RoleAdmin):
    view_roles = MANAGERS
    edit_roles = SUPERADMINS
    list_display = ["config_key", "config_value", "config_type", "updated_at"]
    search_fields = ["config_key", "description"]
    readonly_fields = ["last_updated_by", "created_at", "updated_at"]

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        obj.last_updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    view_roles = MANAGERS
    can_add = False
    can_delete = False
    list_display = ["created_at", "actor_name", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "object_id", "object_repr"]
    date_hierarchy = "created_at"
