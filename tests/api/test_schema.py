"""The OpenAPI document describes what the API answers, and fuzzing finds no 500."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response as SchemaResponse

from tests.api.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi() -> Any:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(response.json())


def conforms(openapi: Any, path: str, method: str, response: Any) -> None:
    """Validate a test client's response against the document's operation."""
    sent = requests.Request(method.upper(), f"http://testserver{path}").prepare()
    headers = {k.lower(): [v] for k, v in response.headers.items()}
    wrapped = SchemaResponse(
        status_code=response.status_code,
        headers=headers,
        content=response.content,
        request=sent,
        elapsed=0.0,
        verify=False,
    )
    openapi[path][method].validate_response(wrapped)


def test_the_schema_is_openapi_3_and_names_every_endpoint(api: APIClient) -> None:
    document = api.get("/api/schema/?format=json").json()

    assert document["openapi"].startswith("3.")
    for path in [
        "/api/integrations/",
        "/api/integrations/{id}/test/",
        "/api/integrations/{integration_pk}/health-checks/",
        "/api/integrations/{id}/metrics/",
        "/api/integrations/{id}/uptime/",
        "/api/dependencies/",
        "/api/alert-rules/",
        "/api/incidents/",
        "/api/incidents/{id}/acknowledge/",
        "/api/incidents/{id}/resolve/",
        "/api/maintenance-windows/",
        "/api/maintenance-windows/{id}/approve/",
        "/api/baselines/",
        "/api/system-config/",
        "/api/audit-log/",
        "/api/dashboard/",
    ]:
        assert path in document["paths"], path
    schemes = document["components"]["securitySchemes"]
    assert {"tokenAuth", "cookieAuth"} <= set(schemes)


SAMPLES = [
    ("/api/integrations/", "get"),
    ("/api/integrations/{id}/", "get"),
    ("/api/integrations/{integration_pk}/health-checks/", "get"),
    ("/api/integrations/{integration_pk}/health-checks/{id}/", "get"),
    ("/api/integrations/{id}/metrics/", "get"),
    ("/api/dependencies/", "get"),
    ("/api/alert-rules/", "get"),
    ("/api/alert-rules/{id}/", "get"),
    ("/api/incidents/", "get"),
    ("/api/incidents/{id}/", "get"),
    ("/api/maintenance-windows/", "get"),
    ("/api/baselines/", "get"),
    ("/api/system-config/", "get"),
    ("/api/system-config/{config_key}/", "get"),
    ("/api/audit-log/", "get"),
    ("/api/dashboard/", "get"),
]


@pytest.mark.parametrize(("template", "method"), SAMPLES)
def test_sample_responses_match_the_schema(
    openapi: Any,
    world: dict[str, Any],
    api_as: Any,
    superadmin: Any,
    template: str,
    method: str,
) -> None:
    world["audit"].details = {"changes": {"display_name": ["a", "b"]}}
    world["audit"].save()
    path = template.format(
        id=world["integration"].pk if "integrations" in template else "",
        integration_pk=world["integration"].pk,
        config_key="max_consecutive_failures",
    )
    if "health-checks/{id}" in template:
        path = template.format(
            integration_pk=world["integration"].pk, id=world["check"].pk
        )
    if "alert-rules/{id}" in template:
        path = template.format(id=world["rule"].pk)
    if "incidents/{id}" in template:
        path = template.format(id=world["incident"].pk)

    response = getattr(api_as(superadmin), method)(path)

    assert response.status_code == 200, response.content[:300]
    conforms(openapi, template, method, response)


@pytest.mark.parametrize(
    ("template", "method", "path", "status"),
    [
        ("/api/integrations/", "post", "/api/integrations/", 400),
        ("/api/integrations/{id}/", "get", "/api/integrations/{missing}/", 404),
        ("/api/integrations/", "get", "/api/integrations/?status=purple", 400),
    ],
)
def test_error_responses_match_the_schema(
    openapi: Any,
    api_as: Any,
    manager: Any,
    template: str,
    method: str,
    path: str,
    status: int,
) -> None:
    path = path.format(missing="00000000-0000-0000-0000-000000000000")

    response = getattr(api_as(manager), method)(path, {}, format="json")

    assert response.status_code == status
    conforms(openapi, template, method, response)


@pytest.fixture
def fuzz_token(db: Any, superadmin: Any) -> str:
    IncidentFactory()
    token, _ = Token.objects.get_or_create(user=superadmin)
    return token.key


@pytest.fixture
def wsgi_in_test_transaction() -> Any:
    """Keep the test's connection open across WSGI requests, as Django's client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_schema(fuzz_token: str, wsgi_in_test_transaction: None, no_dns: None) -> Any:
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application()
    )


fuzzed = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.mark.fuzz
@fuzzed.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_fuzzing_the_api_finds_no_server_error(case: Any, fuzz_token: str) -> None:
    headers = {"Authorization": f"Token {fuzz_token}"}

    case.call_and_validate(headers=headers, checks=[not_a_server_error])
