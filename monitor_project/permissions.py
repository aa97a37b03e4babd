"""Role permissions for the API: the role table of the design, one class per row."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from monitor_project.roles import ANY_ROLE, MANAGERS, SUPERADMINS, has_role

NOBODY: frozenset[str] = frozenset()


class RolePermission(BasePermission):
    """Allow reads to `read_roles`, writes to `write_roles`, actions as listed.

    Anonymous requests fail here too; DRF then answers 401 rather than 403
    because the first authentication class names a WWW-Authenticate scheme.
    """

    read_roles: frozenset[str] = ANY_ROLE
    write_roles: frozenset[str] = MANAGERS
    action_roles: dict[str, frozenset[str]] = {}

    def roles_for(self, request: Request, view: Any) -> frozenset[str]:
        action = getattr(view, "action", None)
        if action in self.action_roles:
            return self.action_roles[action]
        if request.method in SAFE_METHODS:
            return self.read_roles
        return self.write_roles

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, self.roles_for(request, view))


class IntegrationPermission(RolePermission):
    action_roles = {"test": ANY_ROLE}


class ReadOnlyPermission(RolePermission):
    """Rows the system writes: health checks, metrics, baselines."""

    write_roles = NOBODY


class DependencyPermission(RolePermission):
    pass


class AlertRulePermission(RolePermission):
    read_roles = MANAGERS


class IncidentPermission(RolePermission):
    # Which staff member may act on which incident is decided per object.
    action_roles = {"acknowledge": ANY_ROLE, "resolve": ANY_ROLE}


class MaintenanceWindowPermission(RolePermission):
    action_roles = {"approve": MANAGERS}


class SystemConfigPermission(RolePermission):
    read_roles = MANAGERS
    write_roles = SUPERADMINS


class AuditLogPermission(RolePermission):
    read_roles = MANAGERS
    write_roles = NOBODY


class DashboardPermission(RolePermission):
    write_roles = NOBODY
