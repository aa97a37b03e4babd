"""A canary secret planted in every credential must surface nowhere we store or log."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from integrations_app import checks
from integrations_app.models import Integration
from tests.integrations_app.factories import IntegrationFactory
from tests.integrations_app.upstream import Exchange

pytestmark = pytest.mark.django_db

CANARY = "canary7f3a9c"


def echo(status: int) -> Any:
    """Answer with everything the request carried, as a careless service might."""

    def answer(ex: Exchange) -> None:
        seen = ex.request
        payload = {
            "path": seen.path,
            "headers": seen.headers,
            "body": seen.body.decode("latin-1"),
        }
        ex.respond(status, json.dumps(payload).encode())

    return answer


def token(ex: Exchange) -> None:
    body = {
        "access_token": f"{CANARY}-access",
        "expires_in": 3600,
        "echo": ex.request.headers,
    }
    ex.respond(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def refusing_token(ex: Exchange) -> None:
    ex.respond(401, json.dumps(ex.request.headers).encode())


CREDENTIALS = [
    ("api_key", {"api_key": f"{CANARY}-key", "header_name": "X-Key"}),
    ("api_key", {"api_key": f"{CANARY}-query", "query_param": "key"}),
    ("bearer", {"token": f"{CANARY}-bearer"}),
    ("basic", {"username": f"{CANARY}-user", "password": f"{CANARY}-password"}),
    (
        "oauth",
        {
            "token_url": "{server}/token",
            "client_id": f"{CANARY}-client",
            "client_secret": f"{CANARY}-secret",
        },
    ),
    (
        "oauth",
        {
            "token_url": "{server}/refuse",
            "client_id": f"{CANARY}-client2",
            "client_secret": f"{CANARY}-secret2",
        },
    ),
]


def plant(base: str) -> list[Integration]:
    planted = []
    for path in ["/ok", "/fail", "/hop"]:
        for auth_type, config in CREDENTIALS:
            filled = {k: v.format(server=base) for k, v in config.items()}
            planted.append(
                IntegrationFactory(
                    base_url=base,
                    health_check_endpoint=path,
                    auth_type=auth_type,
                    auth_config=filled,
                    custom_headers={"X-Trace": f"{CANARY}-header"},
                    timeout_seconds=5,
                    health_check_method="POST",
                    health_check_body='{"probe": true}',
                )
            )
    return planted


def stored_text() -> list[tuple[str, str]]:
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608
            found += [(table, row[0]) for row in cursor.fetchall()]
    return found


def cached_text() -> list[str]:
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    return [repr(client.get(key)) for key in client.keys("*")]


def test_no_credential_reaches_a_row_a_log_record_or_the_cache(
    allow_loopback: None,
    upstream: Any,
    staff: Any,
    caplog: pytest.LogCaptureFixture,
    fake_dns: Any,
) -> None:
    cache.clear()
    fake_dns.names["elsewhere.example.com"] = ["127.0.0.1"]
    server = upstream()
    other = upstream()
    other.routes["/landing"] = echo(200)
    server.routes.update(
        {
            "/ok": echo(200),
            "/fail": echo(500),
            "/hop": lambda ex: ex.respond(
                307,
                b"",
                {"Location": other.url("/landing", host="elsewhere.example.com")},
            ),
            "/token": token,
            "/refuse": refusing_token,
        }
    )
    planted = plant(server.url("").rstrip("/"))
    caplog.set_level(logging.DEBUG)

    rows = checks.run_checks(planted)
    rows += checks.run_checks(planted)
    for integration in planted[:3]:
        rows.append(checks.run_manual_check(integration, staff))

    # The echoes did carry the credentials, so the search below means something.
    assert any(CANARY in (s.headers.get("x-key") or "") for s in server.seen)
    assert any(CANARY in s.path for s in server.seen)
    assert {r.status_code for r in rows} >= {200, 500}
    assert any(r.error_kind == "auth" for r in rows)
    basic = base64.b64encode(f"{CANARY}-user:{CANARY}-password".encode()).decode()
    for table, text in stored_text():
        assert CANARY not in text, table
        assert basic not in text, table
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in (record.exc_text or "")
    for value in cached_text():
        assert CANARY not in value
    # The masked echo is still stored, so an operator sees what came back.
    echoed = [r for r in rows if '"path": "/ok' in (r.response_body or "")]
    assert echoed and all(checks.MASK in r.response_body for r in echoed)
    # Across the redirect to another host nothing secret was even sent.
    assert all(CANARY not in str(s) for s in other.seen)
