"""Run health checks, judge their results and record them with the new state."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from integrations_app import outbound
from integrations_app.models import HealthCheck, Integration, SystemConfig
from integrations_app.signals import announce, status_changed
from monitor_project import access
from monitor_project.sealing import Sealed, SecretUnreadable

logger = logging.getLogger(__name__)

SLOW_WITHOUT_BASELINE_MS = 5000
CERT_WARNING = timedelta(days=14)
DEFAULT_MAX_FAILURES = 3
STORED_BODY_CHARS = 4096
STORED_ERROR_CHARS = 1000
# A cached token is dropped this long before the provider says it expires.
TOKEN_MARGIN_SECONDS = 60
DEFAULT_TOKEN_SECONDS = 300
MASK = "********"

_STATE_FIELDS = [
    "current_health_status",
    "last_health_check",
    "last_successful_check",
    "consecutive_failures",
    "last_response_time_ms",
    "ssl_expires_at",
]


class CheckFailure(Exception):
    """A check that failed before or instead of getting an HTTP answer."""

    def __init__(self, kind: str, message: str, status: str = "critical") -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


@dataclass
class Result:
    """What one check found, ready to be stored."""

    integration_id: Any
    started_at: datetime
    health_status: str
    is_successful: bool
    status_code: int | None = None
    response_time_ms: int | None = None
    response_body: str | None = None
    error_message: str | None = None
    error_kind: str | None = None
    timings: dict[str, int | None] = field(default_factory=dict)
    tls_expires_at: datetime | None = None
    availability_score: Decimal | None = None
    performance_score: Decimal | None = None


@dataclass
class _Secrets:
    """Every credential a check used, so none of them is stored or logged."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, str) and len(value) >= 4:
                self.values.update({value, quote(value, safe=""), quote_plus(value)})

    def scrub(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole.
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text


def slow_threshold_ms(baseline_ms: Any) -> float:
    """Say how slow is too slow: twice the baseline, or 5 s without one."""
    try:
        baseline = float(baseline_ms)
    except (TypeError, ValueError):
        return SLOW_WITHOUT_BASELINE_MS
    return 2 * baseline if baseline > 0 else SLOW_WITHOUT_BASELINE_MS


def slow_thresholds(ids: Iterable[Any]) -> dict[Any, float]:
    """Read each integration's active baseline in one query."""
    from metrics_app.models import Baseline

    rows = (
        Baseline.objects.filter(integration_id__in=list(ids), is_active=True)
        .order_by("integration_id", "-baseline_end_date")
        .distinct("integration_id")
        .values_list("integration_id", "baseline_response_time_ms")
    )
    return {pk: slow_threshold_ms(ms) for pk, ms in rows}


def max_consecutive_failures() -> int:
    row = SystemConfig.objects.filter(config_key="max_consecutive_failures").first()
    value = row.config_value if row else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return DEFAULT_MAX_FAILURES


def _safe_text(text: str | None, secrets: _Secrets, limit: int) -> str | None:
    """Make text storable: no secret, no NUL (PostgreSQL refuses it), bounded."""
    if text is None:
        return None
    text = secrets.scrub(text).replace("\x00", "\ufffd")
    return text[:limit]


def _token_cache_key(integration: Integration, config: dict[str, Any]) -> str:
    # The secret is part of the key, so a changed secret never uses an old token.
    material = "|".join(
        str(config.get(k) or "")
        for k in ("token_url", "client_id", "client_secret", "scope")
    )
    digest = hashlib.sha256(f"{integration.pk}|{material}".encode()).hexdigest()
    return f"oauth-token:{digest}"


def _cached_token(key: str) -> str | None:
    try:
        envelope = cache.get(key)
        if isinstance(envelope, dict):
            token = Sealed(envelope).reveal().get("token")
            return token if isinstance(token, str) else None
    except SecretUnreadable:
        return None
    except Exception as exc:
        logger.warning("token cache unreadable: %s", type(exc).__name__)
    return None


def _remember_token(key: str, token: str, seconds: int) -> None:
    try:
        # Sealed so a token never sits in Redis in the clear.
        cache.set(key, Sealed.seal({"token": token}).envelope, seconds)
    except Exception as exc:
        logger.warning("token cache unwritable: %s", type(exc).__name__)


def forget_token(integration: Integration) -> None:
    """Drop a cached OAuth token, as after the service refused it."""
    if integration.auth_type != "oauth" or not integration.auth_config:
        return
    try:
        cache.delete(_token_cache_key(integration, integration.auth_config.reveal()))
    except Exception as exc:
        logger.warning("token cache unwritable: %s", type(exc).__name__)


def _oauth_token(
    integration: Integration,
    config: dict[str, Any],
    secrets: _Secrets,
    deadline: float,
) -> str:
    """Fetch a client-credentials token, or reuse one still valid."""
    token_url = config.get("token_url")
    client_id, client_secret = config.get("client_id"), config.get("client_secret")
    if not token_url or not client_id or not client_secret:
        raise CheckFailure(
            "config",
            "OAuth needs a token URL, a client id and a client secret",
            "warning",
        )
    key = _token_cache_key(integration, config)
    token = _cached_token(key)
    if token:
        secrets.add(token)
        return token

    form = {"grant_type": "client_credentials"}
    if config.get("scope"):
        form["scope"] = str(config["scope"])
    try:
        response = outbound.request(
            "POST",
            str(token_url),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form),
            auth=(str(client_id), str(client_secret)),
            timeout=max(deadline - time.monotonic(), 0.001),
            follow_redirects=False,
        )
    except outbound.OutboundError as exc:
        raise CheckFailure(
            "auth", f"Could not fetch an OAuth token: {exc.message}"
        ) from None
    if response.status_code != 200:
        raise CheckFailure(
            "auth",
            f"The OAuth token endpoint answered {response.status_code}",
            "critical" if response.status_code >= 500 else "warning",
        )
    try:
        payload = json.loads(response.text)
        token = payload["access_token"]
        if not isinstance(token, str) or not token:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise CheckFailure(
            "auth", "The OAuth token endpoint sent no access token", "warning"
        ) from None
    secrets.add(token)

    expires_in = payload.get("expires_in", DEFAULT_TOKEN_SECONDS)
    try:
        lifetime = int(expires_in) - TOKEN_MARGIN_SECONDS
    except (TypeError, ValueError):
        lifetime = DEFAULT_TOKEN_SECONDS - TOKEN_MARGIN_SECONDS
    if lifetime > 0:
        _remember_token(key, token, lifetime)
    return token


# Config keys that name where a credential goes rather than being one.
_NOT_SECRET = frozenset({"header_name", "query_param", "token_url", "scope"})


def _build(
    integration: Integration, secrets: _Secrets, deadline: float
) -> dict[str, Any]:
    """Assemble the request a check makes, credentials included."""
    url = integration.check_url
    if not integration.base_url:
        raise CheckFailure("config", "The integration has no base URL", "warning")
    try:
        custom = (
            integration.custom_headers.reveal() if integration.custom_headers else {}
        )
        config = integration.auth_config.reveal() if integration.auth_config else {}
    except SecretUnreadable as exc:
        raise CheckFailure("config", str(exc), "warning") from None

    headers = {str(k): str(v) for k, v in custom.items()}
    secrets.add(*headers.values())
    params: dict[str, str] = {}
    auth: tuple[str, str] | None = None
    secrets.add(*(str(v) for k, v in config.items() if k not in _NOT_SECRET))

    kind = integration.auth_type
    if kind == "api_key":
        key = str(config.get("api_key") or "")
        if not key:
            raise CheckFailure("config", "The API key is not set", "warning")
        if config.get("query_param") and not config.get("header_name"):
            params[str(config["query_param"])] = key
        else:
            headers[str(config.get("header_name") or "X-API-Key")] = key
    elif kind == "bearer":
        token = str(config.get("token") or "")
        if not token:
            raise CheckFailure("config", "The bearer token is not set", "warning")
        headers["Authorization"] = f"Bearer {token}"
    elif kind == "basic":
        username, password = config.get("username"), config.get("password")
        if not username:
            raise CheckFailure("config", "The username is not set", "warning")
        auth = (str(username), str(password or ""))
        secrets.add(base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    elif kind == "oauth":
        token = _oauth_token(integration, config, secrets, deadline)
        headers["Authorization"] = f"Bearer {token}"

    method = integration.health_check_method or "GET"
    body = integration.health_check_body if method == "POST" else None
    return {
        "method": method,
        "url": url,
        "headers": headers,
        "params": params or None,
        "body": body,
        "auth": auth,
    }


def _score(value: float) -> Decimal:
    return Decimal(str(round(min(max(value, 0.0), 1.0), 4)))


def _judge(
    integration: Integration,
    response: outbound.OutboundResponse,
    slow_ms: float,
    now: datetime,
) -> tuple[str, bool, str | None, str | None]:
    """Answer (health status, successful, error kind, message) for an answer."""
    code = response.status_code
    expected = list(integration.expected_response_codes or [200])
    if code not in expected:
        status = "critical" if code >= 500 else "warning"
        wanted = ", ".join(str(c) for c in expected)
        return status, False, "status", f"Unexpected status {code} (expected {wanted})"

    wanted_text = integration.expected_response_content
    if wanted_text and wanted_text not in response.text:
        if response.truncated:
            return (
                "warning",
                False,
                "too_large",
                "The body is larger than 64 KiB and its first 64 KiB lack the "
                "expected text",
            )
        return "warning", False, "content", "The body lacks the expected text"

    if response.elapsed_ms > slow_ms:
        return (
            "warning",
            True,
            "slow",
            f"Slow answer: {response.elapsed_ms} ms, over {round(slow_ms)} ms",
        )
    expires = response.tls_expires_at
    if expires is not None and expires - now < CERT_WARNING:
        return (
            "warning",
            True,
            "certificate",
            f"The TLS certificate expires on {expires:%Y-%m-%d %H:%M} UTC",
        )
    return "healthy", True, None, None


def probe(integration: Integration, *, slow_ms: float | None = None) -> Result:
    """Run one check against the service; touch no database row."""
    slow_ms = SLOW_WITHOUT_BASELINE_MS if slow_ms is None else slow_ms
    started_at = timezone.now()
    started = time.monotonic()
    deadline = started + max(int(integration.timeout_seconds or 30), 1)
    secrets = _Secrets()

    try:
        spec = _build(integration, secrets, deadline)
        response = outbound.request(
            timeout=max(deadline - time.monotonic(), 0.001), **spec
        )
    except CheckFailure as exc:
        return Result(
            integration.pk,
            started_at,
            exc.status,
            False,
            response_time_ms=round((time.monotonic() - started) * 1000),
            error_message=_safe_text(exc.message, secrets, STORED_ERROR_CHARS),
            error_kind=exc.kind,
            availability_score=_score(0),
            performance_score=_score(0),
        )
    except outbound.OutboundError as exc:
        return Result(
            integration.pk,
            started_at,
            "critical",
            False,
            response_time_ms=exc.timings.get("total_ms"),
            error_message=_safe_text(exc.message, secrets, STORED_ERROR_CHARS),
            error_kind=exc.kind,
            timings=exc.timings,
            availability_score=_score(0),
            performance_score=_score(0),
        )

    status, ok, kind, message = _judge(integration, response, slow_ms, timezone.now())
    if response.status_code == 401:
        forget_token(integration)
    return Result(
        integration.pk,
        started_at,
        status,
        ok,
        status_code=response.status_code,
        response_time_ms=response.elapsed_ms,
        response_body=_safe_text(response.text, secrets, STORED_BODY_CHARS),
        error_message=_safe_text(message, secrets, STORED_ERROR_CHARS),
        error_kind=kind,
        timings=response.timings,
        tls_expires_at=response.tls_expires_at,
        availability_score=_score(1 if ok else 0),
        performance_score=_score(slow_ms / 2 / max(response.elapsed_ms, 1)),
    )


def _row(result: Result, check_type: str, triggered_by: Any) -> HealthCheck:
    return HealthCheck(
        integration_id=result.integration_id,
        check_timestamp=result.started_at,
        response_time_ms=result.response_time_ms,
        status_code=result.status_code,
        response_body=result.response_body,
        error_message=result.error_message,
        error_kind=result.error_kind,
        is_successful=result.is_successful,
        health_status=result.health_status,
        check_type=check_type,
        triggered_by=triggered_by,
        dns_resolution_time_ms=result.timings.get("dns_ms"),
        tcp_connection_time_ms=result.timings.get("connect_ms"),
        ssl_handshake_time_ms=result.timings.get("tls_ms"),
        availability_score=result.availability_score,
        performance_score=result.performance_score,
        created_at=timezone.now(),
    )


def _advance(integration: Integration, result: Result, max_failures: int) -> None:
    """Move an integration's state on by one check result."""
    if result.is_successful:
        integration.consecutive_failures = 0
        integration.current_health_status = result.health_status
        if (
            integration.last_successful_check is None
            or result.started_at > integration.last_successful_check
        ):
            integration.last_successful_check = result.started_at
    else:
        integration.consecutive_failures += 1
        integration.current_health_status = (
            "critical"
            if integration.consecutive_failures >= max_failures
            else "warning"
        )
    if (
        integration.last_health_check is None
        or result.started_at > integration.last_health_check
    ):
        integration.last_health_check = result.started_at
    integration.last_response_time_ms = result.response_time_ms
    if result.tls_expires_at is not None:
        integration.ssl_expires_at = result.tls_expires_at


# One statement for a whole batch; the ORM's bulk_update builds a CASE per
# column and row, which costs more than the checks themselves.
_STATE_SQL = """
UPDATE integrations AS i
SET current_health_status = v.status,
    last_health_check = v.last_check,
    last_successful_check = v.last_ok,
    consecutive_failures = v.failures,
    last_response_time_ms = v.response_ms,
    ssl_expires_at = v.ssl_expires
FROM unnest(
    %s::uuid[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::int[],
    %s::int[], %s::timestamptz[]
) AS v(id, status, last_check, last_ok, failures, response_ms, ssl_expires)
WHERE i.id = v.id
  -- Lets the planner fetch the rows by key instead of scanning the table.
  AND i.id = ANY(%s::uuid[])
"""


def _write_state(integrations: list[Integration]) -> None:
    columns: list[list[Any]] = [[] for _ in range(7)]
    for i in integrations:
        values = (
            i.pk,
            i.current_health_status,
            i.last_health_check,
            i.last_successful_check,
            i.consecutive_failures,
            i.last_response_time_ms,
            i.ssl_expires_at,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [*columns, columns[0]])


def record(
    results: Sequence[Result],
    *,
    check_type: str = "automated",
    triggered_by: Any = None,
) -> list[HealthCheck]:
    """Store results and the integrations' new state in one transaction."""
    if not results:
        return []
    max_failures = max_consecutive_failures()
    with transaction.atomic():
        # Locked in a fixed order so concurrent writers cannot deadlock.
        locked = {
            row.pk: row
            for row in Integration.objects.select_for_update()
            .filter(pk__in={r.integration_id for r in results})
            .order_by("pk")
            .only("id", "display_name", *_STATE_FIELDS)
        }
        rows = [
            _row(r, check_type, triggered_by)
            for r in results
            if r.integration_id in locked
        ]
        changes = []
        for result in sorted(results, key=lambda r: r.started_at):
            integration = locked.get(result.integration_id)
            if integration is None:
                continue
            before = integration.current_health_status
            _advance(integration, result, max_failures)
            if integration.current_health_status != before:
                changes.append((integration, before))
        HealthCheck.objects.bulk_create(rows)
        _write_state(list(locked.values()))
        changed_at = timezone.now()
        for integration, before in changes:
            announce(
                status_changed,
                Integration,
                integration_id=str(integration.pk),
                display_name=integration.display_name,
                health_status=integration.current_health_status,
                previous_status=before,
                changed_at=changed_at.isoformat(),
            )
    return rows


def run_manual_check(integration: Integration, user: Any) -> HealthCheck:
    """Check an integration now, on someone's request, and store the result."""
    started = time.monotonic()
    slow_ms = slow_thresholds([integration.pk]).get(integration.pk)
    result = probe(integration, slow_ms=slow_ms)
    # Recording a check is the system's work, whoever asked for it.
    with access.as_system():
        [row] = record([result], check_type="manual", triggered_by=user)
    logger.info(
        "manual check of integration %s by %s: %s in %.0f ms",
        integration.pk,
        getattr(user, "pk", None),
        result.health_status,
        (time.monotonic() - started) * 1000,
    )
    return row


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(int(settings.CHECK_THREADS), 1),
                thread_name_prefix="check",
            )
        return _pool


def _forget_pool() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _probe_safely(integration: Integration, slow_ms: float | None) -> Result:
    try:
        return probe(integration, slow_ms=slow_ms)
    except Exception as exc:
        # One broken integration must not take the rest of its batch down.
        logger.exception("check of integration %s crashed", integration.pk)
        return Result(
            integration.pk,
            timezone.now(),
            "critical",
            False,
            error_message=f"The check itself failed ({type(exc).__name__})",
            error_kind="error",
            availability_score=_score(0),
            performance_score=_score(0),
        )


def run_checks(
    integrations: Sequence[Integration], *, check_type: str = "automated"
) -> list[HealthCheck]:
    """Check several integrations at once, bounded by CHECK_THREADS, then store all."""
    if not integrations:
        return []
    thresholds = slow_thresholds(i.pk for i in integrations)
    results = list(
        _executor().map(lambda i: _probe_safely(i, thresholds.get(i.pk)), integrations)
    )
    return record(results, check_type=check_type)
