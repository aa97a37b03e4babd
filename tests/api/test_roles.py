"""The role table of the design, every cell, for every endpoint and action."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from tests.api.conftest import ROLES

pytestmark = pytest.mark.django_db

ANY = frozenset({"staff", "manager", "superadmin"})
MANAGERS = frozenset({"manager", "superadmin"})
SUPERADMINS = frozenset({"superadmin"})

World = dict[str, Any]


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    url: Callable[[World], str]
    allowed: frozenset[str]
    ok: int = 200
    body: Callable[[World], dict[str, Any]] = field(default=lambda w: {})


def _later(hours: int) -> str:
    return (timezone.now() + datetime.timedelta(hours=hours)).isoformat()


def integration_body(w: World) -> dict[str, Any]:
    return {
        "name": "new_service",
        "display_name": "New service",
        "service_type": "api",
        "auth_type": "none",
        "base_url": "https://new.example.com",
    }


def rule_body(w: World) -> dict[str, Any]:
    return {
        "rule_name": "slow answers",
        "alert_type": "performance",
        "condition_metric": "response_time",
        "condition_operator": ">",
        "condition_threshold": "2000",
        "severity": "warning",
        "notification_channels": ["email"],
        "notification_recipients": ["ops@example.com"],
    }


def window_body(w: World) -> dict[str, Any]:
    return {
        "title": "database upgrade",
        "scheduled_start": _later(24),
        "scheduled_end": _later(26),
        "affected_integrations": [str(w["integration"].pk)],
    }


def dependency_body(w: World) -> dict[str, Any]:
    return {
        "integration": str(w["integration"].pk),
        "depends_on": str(w["other"].pk),
        "dependency_type": "soft",
    }


I = "/api/integrations/"  # noqa: E741
CALLS = [
    Call("integrations list", "get", lambda w: I, ANY),
    Call("integrations retrieve", "get", lambda w: f"{I}{w['integration'].pk}/", ANY),
    Call("integrations create", "post", lambda w: I, MANAGERS, 201, integration_body),
    Call(
        "integrations update",
        "put",
        lambda w: f"{I}{w['other'].pk}/",
        MANAGERS,
        body=integration_body,
    ),
    Call(
        "integrations partial update",
        "patch",
        lambda w: f"{I}{w['integration'].pk}/",
        MANAGERS,
        body=lambda w: {"display_name": "Renamed"},
    ),
    Call(
        "integrations delete", "delete", lambda w: f"{I}{w['other'].pk}/", MANAGERS, 204
    ),
    Call("integrations test", "post", lambda w: f"{I}{w['integration'].pk}/test/", ANY),
    Call(
        "health checks list",
        "get",
        lambda w: f"{I}{w['integration'].pk}/health-checks/",
        ANY,
    ),
    Call(
        "health checks retrieve",
        "get",
        lambda w: f"{I}{w['integration'].pk}/health-checks/{w['check'].pk}/",
        ANY,
    ),
    Call("metrics", "get", lambda w: f"{I}{w['integration'].pk}/metrics/", ANY),
    Call("uptime", "get", lambda w: f"{I}{w['integration'].pk}/uptime/?window=7d", ANY),
    Call("baselines list", "get", lambda w: "/api/baselines/", ANY),
    Call(
        "baselines retrieve",
        "get",
        lambda w: f"/api/baselines/{w['baseline'].pk}/",
        ANY,
    ),
    Call("dependencies list", "get", lambda w: "/api/dependencies/", ANY),
    Call(
        "dependencies retrieve",
        "get",
        lambda w: f"/api/dependencies/{w['dependency'].pk}/",
        ANY,
    ),
    Call(
        "dependencies create",
        "post",
        lambda w: "/api/dependencies/",
        MANAGERS,
        201,
        dependency_body,
    ),
    Call(
        "dependencies update",
        "put",
        lambda w: f"/api/dependencies/{w['dependency'].pk}/",
        MANAGERS,
        body=lambda w: {
            "integration": str(w["other"].pk),
            "depends_on": str(w["third"].pk),
            "dependency_type": "optional",
        },
    ),
    Call(
        "dependencies partial update",
        "patch",
        lambda w: f"/api/dependencies/{w['dependency'].pk}/",
        MANAGERS,
        body=lambda w: {"dependency_type": "soft"},
    ),
    Call(
        "dependencies delete",
        "delete",
        lambda w: f"/api/dependencies/{w['dependency'].pk}/",
        MANAGERS,
        204,
    ),
    Call("alert rules list", "get", lambda w: "/api/alert-rules/", MANAGERS),
    Call(
        "alert rules retrieve",
        "get",
        lambda w: f"/api/alert-rules/{w['rule'].pk}/",
        MANAGERS,
    ),
    Call(
        "alert rules create",
        "post",
        lambda w: "/api/alert-rules/",
        MANAGERS,
        201,
        rule_body,
    ),
    Call(
        "alert rules update",
        "put",
        lambda w: f"/api/alert-rules/{w['rule'].pk}/",
        MANAGERS,
        body=rule_body,
    ),
    Call(
        "alert rules partial update",
        "patch",
        lambda w: f"/api/alert-rules/{w['rule'].pk}/",
        MANAGERS,
        body=lambda w: {"severity": "urgent"},
    ),
    Call(
        "alert rules delete",
        "delete",
        lambda w: f"/api/alert-rules/{w['spare_rule'].pk}/",
        MANAGERS,
        204,
    ),
    Call("incidents list", "get", lambda w: "/api/incidents/", ANY),
    Call(
        "incidents retrieve",
        "get",
        lambda w: f"/api/incidents/{w['incident'].pk}/",
        ANY,
    ),
    Call(
        "incidents partial update",
        "patch",
        lambda w: f"/api/incidents/{w['incident'].pk}/",
        MANAGERS,
        body=lambda w: {"business_impact": "high"},
    ),
    Call(
        "incidents update",
        "put",
        lambda w: f"/api/incidents/{w['incident'].pk}/",
        MANAGERS,
        body=lambda w: {"business_impact": "low", "estimated_affected_users": 40},
    ),
    Call(
        "incidents acknowledge",
        "post",
        lambda w: f"/api/incidents/{w['incident'].pk}/acknowledge/",
        ANY,
    ),
    Call(
        "incidents resolve",
        "post",
        lambda w: f"/api/incidents/{w['incident'].pk}/resolve/",
        ANY,
        body=lambda w: {"resolution_note": "restarted the proxy"},
    ),
    Call(
        "incidents suppress",
        "post",
        lambda w: f"/api/incidents/{w['incident'].pk}/suppress/",
        MANAGERS,
        body=lambda w: {"resolution_note": "known noise"},
    ),
    Call("maintenance list", "get", lambda w: "/api/maintenance-windows/", ANY),
    Call(
        "maintenance retrieve",
        "get",
        lambda w: f"/api/maintenance-windows/{w['window'].pk}/",
        ANY,
    ),
    Call(
        "maintenance create",
        "post",
        lambda w: "/api/maintenance-windows/",
        MANAGERS,
        201,
        window_body,
    ),
    Call(
        "maintenance update",
        "put",
        lambda w: f"/api/maintenance-windows/{w['window'].pk}/",
        MANAGERS,
        body=window_body,
    ),
    Call(
        "maintenance partial update",
        "patch",
        lambda w: f"/api/maintenance-windows/{w['window'].pk}/",
        MANAGERS,
        body=lambda w: {"title": "longer upgrade"},
    ),
    Call(
        "maintenance delete",
        "delete",
        lambda w: f"/api/maintenance-windows/{w['window'].pk}/",
        MANAGERS,
        204,
    ),
    Call(
        "maintenance approve",
        "post",
        lambda w: f"/api/maintenance-windows/{w['window'].pk}/approve/",
        MANAGERS,
    ),
    Call("system config list", "get", lambda w: "/api/system-config/", MANAGERS),
    Call(
        "system config retrieve",
        "get",
        lambda w: "/api/system-config/max_consecutive_failures/",
        MANAGERS,
    ),
    Call(
        "system config update",
        "put",
        lambda w: "/api/system-config/max_consecutive_failures/",
        SUPERADMINS,
        body=lambda w: {"config_key": "max_consecutive_failures", "config_value": 4},
    ),
    Call(
        "system config partial update",
        "patch",
        lambda w: "/api/system-config/max_consecutive_failures/",
        SUPERADMINS,
        body=lambda w: {"config_value": 5},
    ),
    Call(
        "system config create",
        "post",
        lambda w: "/api/system-config/",
        SUPERADMINS,
        201,
        lambda w: {"config_key": "status_page_title", "config_value": "Our status"},
    ),
    Call(
        "system config delete",
        "delete",
        lambda w: "/api/system-config/business_hours_end/",
        SUPERADMINS,
        204,
    ),
    Call("audit log list", "get", lambda w: "/api/audit-log/", MANAGERS),
    Call(
        "audit log retrieve",
        "get",
        lambda w: f"/api/audit-log/{w['audit'].pk}/",
        MANAGERS,
    ),
    Call("dashboard", "get", lambda w: "/api/dashboard/", ANY),
]


def expected(call: Call, role: str) -> int:
    if role in {"anonymous", "bad_token"}:
        return 401
    if role in call.allowed:
        return call.ok
    return 403


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_each_role_gets_exactly_what_the_role_table_grants(
    call: Call, role: str, world: World, client_for: Any
) -> None:
    client = client_for(role)

    response = getattr(client, call.method)(
        call.url(world), call.body(world), format="json"
    )

    assert response.status_code == expected(call, role), response.content[:500]
    if response.status_code == 401:
        assert response["WWW-Authenticate"].startswith("Token")


def test_every_api_route_is_in_the_role_table() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    routes = {
        (_shape(path), method)
        for path, methods in schema["paths"].items()
        for method in methods
        if path != "/api/schema/"
    }
    placeholders = defaultdict(lambda: SimpleNamespace(pk="{id}"))

    covered = {(_shape(c.url(placeholders)), c.method) for c in CALLS}

    assert routes - covered == set()


def _shape(path: str) -> str:
    path = path.split("?")[0]
    path = re.sub(r"\{[a-z_]+\}", "{}", path)
    return re.sub(r"system-config/[a-z_]+/", "system-config/{}/", path)
