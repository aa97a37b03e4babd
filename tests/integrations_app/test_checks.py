from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
import trustme
from django.db import IntegrityError
from django.utils import timezone
from responses import matchers

from integrations_app import checks
from integrations_app.checks import Result
from integrations_app.models import HealthCheck, Integration, SystemConfig
from integrations_app.signals import status_changed
from metrics_app.models import Baseline
from tests.integrations_app.conftest import server_context
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

URL = "https://api.example.com"


def make(**kwargs: Any) -> Integration:
    kwargs.setdefault("base_url", URL)
    kwargs.setdefault("health_check_endpoint", "/health")
    kwargs.setdefault("timeout_seconds", 5)
    return IntegrationFactory(**kwargs)


def check(integration: Integration) -> HealthCheck:
    [row] = checks.run_checks([integration])
    row.refresh_from_db()
    integration.refresh_from_db()
    return row


@pytest.fixture
def changes() -> Any:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **payload: Any) -> None:
        seen.append(payload)

    status_changed.connect(receiver, weak=False)
    yield seen
    status_changed.disconnect(receiver)


@responses.activate
@pytest.mark.parametrize(
    "code, expected, status, successful, kind",
    [
        (200, [200], "healthy", True, None),
        (204, [200, 204], "healthy", True, None),
        (401, [200, 401], "healthy", True, None),
        (204, [200], "warning", False, "status"),
        (302, [200], "warning", False, "status"),
        (404, [200], "warning", False, "status"),
        (429, [200], "warning", False, "status"),
        (500, [200], "critical", False, "status"),
        (503, [200], "critical", False, "status"),
    ],
)
def test_a_check_is_judged_by_its_status_code(
    public_dns: Any,
    code: int,
    expected: list[int],
    status: str,
    successful: bool,
    kind: str | None,
) -> None:
    responses.get(f"{URL}/health", status=code, body="" if code == 204 else "answer")
    integration = make(expected_response_codes=expected)

    row = check(integration)

    assert (row.health_status, row.is_successful, row.error_kind) == (
        status,
        successful,
        kind,
    )
    assert row.status_code == code
    assert row.check_type == "automated"
    assert row.availability_score == Decimal(1 if successful else 0)


@responses.activate
@pytest.mark.parametrize(
    "wanted, body, status, kind",
    [
        ('"status":"ok"', '{"status":"ok"}', "healthy", None),
        ('"status":"ok"', '{"status":"degraded"}', "warning", "content"),
        ("", "anything", "healthy", None),
    ],
)
def test_the_expected_content_must_be_in_the_body(
    public_dns: Any, wanted: str, body: str, status: str, kind: str | None
) -> None:
    responses.get(f"{URL}/health", body=body)
    integration = make(expected_response_content=wanted or None)

    row = check(integration)

    assert (row.health_status, row.error_kind) == (status, kind)


@responses.activate
def test_expected_text_beyond_the_first_64_kib_fails_as_too_large(
    public_dns: Any,
) -> None:
    responses.get(f"{URL}/health", body="x" * 70000 + "READY")
    integration = make(expected_response_content="READY")

    row = check(integration)

    assert (row.health_status, row.error_kind) == ("warning", "too_large")


@responses.activate
@pytest.mark.parametrize(
    "method, body, sent",
    [("POST", '{"ping":1}', b'{"ping":1}'), ("HEAD", None, None), ("GET", "x", None)],
)
def test_the_method_and_body_are_the_integrations(
    public_dns: Any, method: str, body: str | None, sent: bytes | None
) -> None:
    responses.add(method, f"{URL}/health", body="")
    integration = make(health_check_method=method, health_check_body=body)

    check(integration)

    request = responses.calls[0].request
    assert request.method == method
    got = request.body.encode() if isinstance(request.body, str) else request.body
    assert got == sent


@pytest.mark.parametrize(
    "baseline_ms, threshold", [(None, 5000), (Decimal("120.50"), 241), (0, 5000)]
)
def test_slow_means_twice_the_active_baseline_or_five_seconds(
    baseline_ms: Decimal | None, threshold: float
) -> None:
    integration = make()
    if baseline_ms is not None:
        Baseline.objects.create(
            integration=integration,
            baseline_start_date=date(2026, 1, 1),
            baseline_end_date=date(2026, 1, 31),
            baseline_response_time_ms=baseline_ms,
        )
    Baseline.objects.create(
        integration=integration,
        baseline_start_date=date(2025, 1, 1),
        baseline_end_date=date(2025, 1, 31),
        baseline_response_time_ms=Decimal(1),
        is_active=False,
    )

    found = checks.slow_thresholds([integration.pk]).get(integration.pk, 5000)

    assert found == threshold


def test_a_slower_answer_than_twice_the_baseline_is_a_warning(
    allow_loopback: None, upstream: Any
) -> None:
    server = upstream()
    server.routes["/health"] = lambda ex: (time.sleep(0.05), ex.respond(200))
    integration = make(base_url=server.url("").rstrip("/"))
    Baseline.objects.create(
        integration=integration,
        baseline_start_date=date(2026, 1, 1),
        baseline_end_date=date(2026, 1, 31),
        baseline_response_time_ms=Decimal("1.00"),
    )

    row = check(integration)

    assert (row.health_status, row.is_successful, row.error_kind) == (
        "warning",
        True,
        "slow",
    )
    assert row.performance_score is not None and row.performance_score < 1
    assert integration.current_health_status == "warning"
    assert integration.consecutive_failures == 0


@pytest.mark.parametrize(
    "days, status", [(5, "warning"), (13, "warning"), (60, "healthy")]
)
def test_a_certificate_expiring_within_14_days_is_a_warning(
    fake_dns: Any,
    allow_loopback: None,
    trust_ca: trustme.CA,
    upstream: Any,
    days: int,
    status: str,
) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    server = upstream(
        tls=server_context(trust_ca, "cert.example.com", not_after=expires)
    )
    server.routes["/health"] = lambda ex: ex.respond(200)
    fake_dns.names["cert.example.com"] = ["127.0.0.1"]
    integration = make(base_url=f"https://cert.example.com:{server.port}")

    row = check(integration)

    assert row.health_status == status
    assert row.ssl_handshake_time_ms is not None
    assert row.tcp_connection_time_ms is not None
    assert row.dns_resolution_time_ms is not None
    assert integration.ssl_expires_at == expires
    if status == "warning":
        assert row.error_kind == "certificate"
        assert f"{expires:%Y-%m-%d}" in row.error_message


@pytest.mark.parametrize(
    "base_url, kind",
    [
        ("http://127.0.0.1:{closed}", "refused"),
        ("https://no-such-name.example.com", "dns"),
        ("http://169.254.169.254", "policy"),
        ("http://10.0.0.1", "policy"),
    ],
)
def test_transport_failures_are_critical_and_named(
    fake_dns: Any, allow_loopback: None, base_url: str, kind: str
) -> None:
    import socket

    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed = spare.getsockname()[1]
    integration = make(base_url=base_url.format(closed=closed))

    row = check(integration)

    assert (row.health_status, row.is_successful, row.error_kind) == (
        "critical",
        False,
        kind,
    )
    assert row.error_message
    assert row.status_code is None


def test_a_timeout_is_critical(allow_loopback: None, upstream: Any) -> None:
    server = upstream()
    server.routes["/health"] = lambda ex: time.sleep(3)
    integration = make(base_url=server.url("").rstrip("/"), timeout_seconds=1)

    row = check(integration)

    assert (row.health_status, row.error_kind) == ("critical", "timeout")


def test_the_integration_turns_critical_only_after_max_failures_in_a_row(
    public_dns: Any,
    changes: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    SystemConfig.objects.filter(config_key="max_consecutive_failures").update(
        config_value=3
    )
    integration = make()
    seen = []
    with responses.RequestsMock() as mock:
        for code in [200, 500, 503, 500, 500, 200]:
            mock.get(f"{URL}/health", status=code)
            with django_capture_on_commit_callbacks(execute=True):
                check(integration)
            seen.append(
                (integration.current_health_status, integration.consecutive_failures)
            )

    assert seen == [
        ("healthy", 0),
        ("warning", 1),
        ("warning", 2),
        ("critical", 3),
        ("critical", 4),
        ("healthy", 0),
    ]
    assert [(c["previous_status"], c["health_status"]) for c in changes] == [
        ("unknown", "healthy"),
        ("healthy", "warning"),
        ("warning", "critical"),
        ("critical", "healthy"),
    ]
    assert changes[0]["integration_id"] == str(integration.pk)
    assert changes[0]["display_name"] == integration.display_name
    assert datetime.fromisoformat(changes[0]["changed_at"])
    assert integration.last_successful_check == integration.last_health_check


@pytest.mark.parametrize("value", [1, 5, "junk", True, 0, -2])
def test_max_failures_comes_from_system_config(value: Any) -> None:
    SystemConfig.objects.filter(config_key="max_consecutive_failures").update(
        config_value=value
    )

    valid = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    expected = value if valid else 3
    assert checks.max_consecutive_failures() == expected


def test_the_status_change_is_announced_only_after_commit(
    public_dns: Any,
    changes: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    integration = make()
    with responses.RequestsMock() as mock:
        mock.get(f"{URL}/health", status=200)
        with django_capture_on_commit_callbacks() as callbacks:
            check(integration)
            assert changes == []

    for callback in callbacks:
        callback()
    assert len(changes) == 1


def test_recording_is_all_or_nothing() -> None:
    first, second = make(), make()
    now = timezone.now()
    good = Result(first.pk, now, "healthy", True, status_code=200)
    # The database refuses this status: the whole write must roll back with it.
    bad = Result(second.pk, now, "bogus", True, status_code=200)

    with pytest.raises(IntegrityError):
        checks.record([good, bad])

    assert HealthCheck.objects.count() == 0
    first.refresh_from_db()
    assert (first.current_health_status, first.last_health_check) == ("unknown", None)


@responses.activate
def test_bodies_with_nul_and_invalid_utf8_are_stored_safely(public_dns: Any) -> None:
    responses.get(f"{URL}/health", body=b"ok\x00\xff\xfe\xc3(" + b"z" * 10000)
    integration = make()

    row = check(integration)

    assert row.response_body is not None
    assert "\x00" not in row.response_body
    assert row.response_body.startswith("ok\ufffd")
    assert len(row.response_body) == checks.STORED_BODY_CHARS


def test_a_secret_no_key_can_decrypt_fails_the_check_and_says_so(
    public_dns: Any, settings: Any
) -> None:
    from cryptography.fernet import Fernet

    integration = make(auth_type="bearer", auth_config={"token": "t0k3n-value"})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    integration = Integration.objects.get(pk=integration.pk)

    row = check(integration)

    assert (row.is_successful, row.error_kind) == (False, "config")
    assert "cannot be decrypted" in row.error_message


def test_a_manual_check_is_stored_with_who_asked(public_dns: Any, staff: Any) -> None:
    integration = make()
    with responses.RequestsMock() as mock:
        mock.get(f"{URL}/health", status=200, body="fine")
        row = checks.run_manual_check(integration, staff)

    stored = HealthCheck.objects.get(pk=row.pk)
    assert (stored.check_type, stored.triggered_by, stored.health_status) == (
        "manual",
        staff,
        "healthy",
    )
    assert stored.response_body == "fine"
    integration.refresh_from_db()
    assert integration.current_health_status == "healthy"
    assert integration.last_response_time_ms == stored.response_time_ms


@responses.activate
@pytest.mark.parametrize(
    "auth_type, config, match",
    [
        (
            "api_key",
            {"api_key": "k-123456", "header_name": "X-Key"},
            [matchers.header_matcher({"X-Key": "k-123456"})],
        ),
        (
            "api_key",
            {"api_key": "k-123456"},
            [matchers.header_matcher({"X-API-Key": "k-123456"})],
        ),
        (
            "api_key",
            {"api_key": "k-123456", "query_param": "key"},
            [matchers.query_param_matcher({"key": "k-123456"})],
        ),
        (
            "bearer",
            {"token": "b-123456"},
            [matchers.header_matcher({"Authorization": "Bearer b-123456"})],
        ),
        (
            "basic",
            {"username": "ann", "password": "pw-123456"},
            [matchers.header_matcher({"Authorization": "Basic YW5uOnB3LTEyMzQ1Ng=="})],
        ),
        ("none", None, [matchers.header_matcher({"X-Team": "payments"})]),
    ],
)
def test_each_auth_type_sends_its_credentials(
    public_dns: Any, auth_type: str, config: dict[str, str] | None, match: Any
) -> None:
    responses.get(f"{URL}/health", match=match, body="ok")
    integration = make(
        auth_type=auth_type, auth_config=config, custom_headers={"X-Team": "payments"}
    )

    row = check(integration)

    assert row.health_status == "healthy", row.error_message


OAUTH = {
    "token_url": "https://auth.example.com/token",
    "client_id": "client-1",
    "client_secret": "client-secret-1",
    "scope": "read",
}


@pytest.fixture
def clean_cache() -> Any:
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


def test_oauth_fetches_a_client_credentials_token_and_caches_it(
    public_dns: Any, clean_cache: Any
) -> None:
    integration = make(auth_type="oauth", auth_config=OAUTH)
    with responses.RequestsMock() as mock:
        token = mock.post(
            OAUTH["token_url"],
            json={"access_token": "at-123456", "expires_in": 3600},
            match=[
                matchers.header_matcher(
                    {"Authorization": "Basic Y2xpZW50LTE6Y2xpZW50LXNlY3JldC0x"}
                ),
            ],
        )
        health = mock.get(
            f"{URL}/health",
            match=[matchers.header_matcher({"Authorization": "Bearer at-123456"})],
        )

        for _ in range(3):
            row = check(integration)
            assert row.health_status == "healthy", row.error_message

    assert (token.call_count, health.call_count) == (1, 3)
    form = parse_qs(token.calls[0].request.body.decode())
    assert form == {"grant_type": ["client_credentials"], "scope": ["read"]}
    # Only an encrypted form of the token sits in the cache.
    [key] = [k for k in clean_cache._cache.get_client().keys("*") if b"oauth" in k]
    assert b"at-123456" not in clean_cache._cache.get_client().get(key)


def test_an_oauth_token_without_lifetime_left_is_fetched_again(
    public_dns: Any, clean_cache: Any
) -> None:
    integration = make(auth_type="oauth", auth_config=OAUTH)
    with responses.RequestsMock() as mock:
        token = mock.post(
            OAUTH["token_url"], json={"access_token": "short", "expires_in": 30}
        )
        mock.get(f"{URL}/health")

        check(integration)
        check(integration)

    assert token.call_count == 2


def test_a_refused_oauth_token_is_forgotten(public_dns: Any, clean_cache: Any) -> None:
    integration = make(auth_type="oauth", auth_config=OAUTH)
    with responses.RequestsMock() as mock:
        token = mock.post(
            OAUTH["token_url"], json={"access_token": "revoked", "expires_in": 3600}
        )
        mock.get(f"{URL}/health", status=401)

        check(integration)
        check(integration)

    assert token.call_count == 2


@pytest.mark.parametrize(
    "answer, status",
    [
        ({"status": 401, "json": {"error": "invalid_client"}}, "warning"),
        ({"status": 503, "body": "down"}, "critical"),
        ({"status": 200, "json": {"token_type": "bearer"}}, "warning"),
        ({"status": 200, "body": "not json"}, "warning"),
    ],
)
def test_a_failed_token_fetch_is_a_failed_check_of_its_own_kind(
    public_dns: Any, clean_cache: Any, answer: dict[str, Any], status: str
) -> None:
    integration = make(auth_type="oauth", auth_config=OAUTH)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(OAUTH["token_url"], **answer)
        health = mock.get(f"{URL}/health")

        row = check(integration)

    assert (row.is_successful, row.error_kind, row.health_status) == (
        False,
        "auth",
        status,
    )
    assert health.call_count == 0


def test_one_crashing_integration_does_not_sink_its_batch(public_dns: Any) -> None:
    fine = make()
    broken = make()
    broken.timeout_seconds = "soon"  # a value no column would hold
    with responses.RequestsMock() as mock:
        mock.get(f"{URL}/health")
        rows = checks.run_checks([fine, broken])

    assert {(r.integration_id, r.health_status) for r in rows} == {
        (fine.pk, "healthy"),
        (broken.pk, "critical"),
    }
