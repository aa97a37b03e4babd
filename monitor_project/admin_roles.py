"""Admin classes whose permissions follow the three roles, with an audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import models
from django.http import HttpRequest

from integrations_app import audit
from monitor_project.roles import ANY_ROLE, MANAGERS, SUPERADMINS, has_role


class RolePermissions:
    """Who may see and who may change a model in the admin."""

    view_roles: frozenset[str] = ANY_ROLE
    edit_roles: frozenset[str] = MANAGERS
    can_add = True
    can_delete = True

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, self.view_roles)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, self.view_roles)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_add and has_role(request.user, self.edit_roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, self.edit_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_delete and has_role(request.user, self.edit_roles)


class RoleAdmin(RolePermissions, admin.ModelAdmin):
    """A model admin that checks roles and records every change in the audit trail."""

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        before = None
        if change:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = audit.snapshot(stored) if stored else None
        super().save_model(request, obj, form, change)
        action = "update" if change else "create"
        audit.record(
            request.user,
            action,
            obj,
            {"changes": audit.diff(before, audit.snapshot(obj))},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record(
            request.user,
            "delete",
            obj,
            {"before": audit.diff(audit.snapshot(obj), None)},
        )
        super().delete_model(request, obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> None:
        for obj in queryset:
            audit.record(request.user, "delete", obj)
        super().delete_queryset(request, queryset)


class ReadOnlyAdmin(RoleAdmin):
    """Rows the system writes: everyone with a role may read, nobody edits here."""

    edit_roles = frozenset()


class RoleTabularInline(RolePermissions, admin.TabularInline):  # type: ignore[type-arg]
    extra = 0


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class MonitorUserAdmin(RolePermissions, UserAdmin):  # type: ignore[type-arg]
    view_roles = SUPERADMINS
    edit_roles = SUPERADMINS


@admin.register(Group)
class MonitorGroupAdmin(RolePermissions, GroupAdmin):
    view_roles = SUPERADMINS
    edit_roles = SUPERADMINS


admin.site.site_header = "Integration monitor"
admin.site.site_title = "Integration monitor"
admin.site.index_title = "Integrations, alerts and maintenance"
