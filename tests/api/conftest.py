from __future__ import annotations

import socket
from typing import Any

import pytest
from rest_framework.test import APIClient

from integrations_app.models import Integration, SystemConfig
from tests.api.factories import (
    AlertRuleFactory,
    AuditEventFactory,
    BaselineFactory,
    IncidentFactory,
    MaintenanceWindowFactory,
    MetricFactory,
)
from tests.integrations_app.factories import (
    DependencyFactory,
    HealthCheckFactory,
    IntegrationFactory,
)

CANARY = "canary-api-5be81d-secret"
ROLES = ["anonymous", "bad_token", "nobody", "staff", "manager", "superadmin"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_examples(db: Any) -> None:
    """Start without the example integrations the data migration loads."""
    Integration.objects.all().delete()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail every name lookup at once: there is no network to ask."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def client_for(
    request: pytest.FixtureRequest, api_as: Any
) -> Any:  # returns a factory of clients by role name
    def make(role: str) -> APIClient:
        if role == "anonymous":
            return APIClient()
        if role == "bad_token":
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
            return client
        fixture = {
            "nobody": "nobody",
            "staff": "staff",
            "manager": "manager",
            "superadmin": "superadmin",
        }[role]
        return api_as(request.getfixturevalue(fixture))

    return make


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """One of each row the API serves, with a canary secret planted."""
    integration = IntegrationFactory(
        auth_type="bearer",
        auth_config={"token": CANARY},
        custom_headers={"X-Canary": CANARY},
    )
    a, b = IntegrationFactory(), IntegrationFactory()
    rule = AlertRuleFactory(
        integration=integration,
        notification_channels=["email", "webhook"],
        notification_recipients=[
            "oncall@example.com",
            f"https://hooks.example.com/{CANARY}",
        ],
        webhook_secret={"secret": CANARY},
    )
    return {
        "integration": integration,
        "other": a,
        "third": b,
        "check": HealthCheckFactory(integration=integration),
        "other_check": HealthCheckFactory(integration=a),
        "metric": MetricFactory(integration=integration),
        "baseline": BaselineFactory(integration=integration),
        "dependency": DependencyFactory(integration=a, depends_on=b),
        "rule": rule,
        "spare_rule": AlertRuleFactory(integration=a),
        "incident": IncidentFactory(alert_rule=rule),
        "window": MaintenanceWindowFactory(affected_integrations=[integration]),
        "config": SystemConfig.objects.get(config_key="max_consecutive_failures"),
        "audit": AuditEventFactory(),
    }
