from __future__ import annotations

from typing import Any

import pytest

from integrations_app.credentials import PLACEHOLDER
from integrations_app.models import AuditEvent, Integration
from tests.api.conftest import CANARY
from tests.api.factories import IncidentFactory, MetricFactory
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

URL = "/api/integrations/"


def valid(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "payments",
        "display_name": "Payments",
        "service_type": "payment",
        "auth_type": "none",
        "base_url": "https://pay.example.com",
        "health_check_endpoint": "/health",
    }
    body.update(overrides)
    return body


@pytest.fixture
def as_manager(api_as: Any, manager: Any) -> Any:
    return api_as(manager)


def test_it_creates_an_integration_and_records_who_did(
    as_manager: Any, manager: Any
) -> None:
    response = as_manager.post(URL, valid(), format="json")

    assert response.status_code == 201, response.data
    row = Integration.objects.get(name="payments")
    event = AuditEvent.objects.get(action="create", object_id=str(row.pk))
    assert event.actor == manager
    assert event.details["changes"]["display_name"] == [None, "Payments"]


BAD_VALUES = [
    ("health_check_interval_minutes", 0),
    ("health_check_interval_minutes", -5),
    ("health_check_interval_minutes", 10**9),
    ("health_check_interval_minutes", "often"),
    ("timeout_seconds", 0),
    ("timeout_seconds", 121),
    ("timeout_seconds", True),
    ("base_url", "ftp://files.example.com"),
    ("base_url", "javascript:alert(1)"),
    ("base_url", "file:///etc/passwd"),
    ("base_url", "http://127.0.0.1/"),
    ("base_url", "http://169.254.169.254/latest/meta-data"),
    ("base_url", "http://[::1]/"),
    ("base_url", "http://0x7f.1/"),
    ("base_url", "http://10.0.0.8/"),
    ("base_url", "http://user:pw@example.com/"),
    ("base_url", "https://exa mple.com"),
    ("base_url", "https://" + "a" * 3000 + ".com"),
    ("base_url", ""),
    ("base_url", None),
    ("health_check_endpoint", "https://elsewhere.example.com/health"),
    ("health_check_endpoint", "/health\r\nX-Injected: 1"),
    ("expected_response_codes", []),
    ("expected_response_codes", [99]),
    ("expected_response_codes", [600]),
    ("expected_response_codes", ["ok"]),
    ("expected_response_codes", 200),
    ("custom_headers", {"X-Bad": "a\r\nInjected: yes"}),
    ("custom_headers", {"Bad Name": "x"}),
    ("custom_headers", {"X-Long": "x" * 9000}),
    ("custom_headers", {"X-Num": 5}),
    ("custom_headers", ["X-Api-Key", "1"]),
    ("custom_headers", {f"X-H{i}": "v" for i in range(51)}),
    ("icon_url", "javascript:alert(1)"),
    ("documentation_url", "data:text/html,hi"),
    ("health_check_method", "DELETE"),
    ("auth_type", "kerberos"),
    ("environment", "moon"),
    ("service_type", "teleport"),
    ("name", "has spaces"),
    ("name", ""),
    ("name", "x" * 101),
    ("display_name", "x" * 256),
    ("display_name", "nul\x00byte"),
    ("health_check_body", "x" * 70000),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=lambda v: repr(v)[:40])
def test_it_refuses_a_bad_value_naming_the_field(
    as_manager: Any, field: str, value: Any
) -> None:
    response = as_manager.post(URL, valid(**{field: value}), format="json")

    assert response.status_code == 400
    assert field in response.data
    assert not Integration.objects.filter(name=valid()["name"]).exists()


def test_it_refuses_a_timeout_as_long_as_the_interval(as_manager: Any) -> None:
    body = valid(health_check_interval_minutes=1, timeout_seconds=60)

    response = as_manager.post(URL, body, format="json")

    assert response.status_code == 400
    assert "timeout_seconds" in response.data


def test_a_patch_checks_the_timeout_against_the_stored_interval(
    as_manager: Any,
) -> None:
    row = IntegrationFactory(health_check_interval_minutes=1, timeout_seconds=30)

    response = as_manager.patch(
        f"{URL}{row.pk}/", {"timeout_seconds": 90}, format="json"
    )

    assert response.status_code == 400
    assert "timeout_seconds" in response.data


READ_ONLY = {
    "id": "00000000-0000-0000-0000-000000000001",
    "current_health_status": "critical",
    "last_health_check": "2020-01-01T00:00:00Z",
    "last_successful_check": "2020-01-01T00:00:00Z",
    "consecutive_failures": 99,
    "next_check_at": "2020-01-01T00:00:00Z",
    "last_response_time_ms": 12345,
    "ssl_expires_at": "2020-01-01T00:00:00Z",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "open_incidents_count": 42,
    "recent_metrics": {"total_checks": 1},
}


@pytest.mark.parametrize(("field", "value"), READ_ONLY.items())
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_read_only_field_sent_is_never_stored(
    as_manager: Any, field: str, value: Any, method: str
) -> None:
    existing = IntegrationFactory(name="payments")
    before = Integration.objects.filter(pk=existing.pk).values().get()
    if method == "post":
        existing.delete()
        response = as_manager.post(URL, valid(**{field: value}), format="json")
    else:
        response = as_manager.patch(
            f"{URL}{existing.pk}/", {field: value}, format="json"
        )

    assert response.status_code in {200, 201}, response.data
    stored = Integration.objects.filter(name="payments").values().get()
    if field in stored and field not in {"id", "created_at", "updated_at"}:
        assert stored[field] == before[field]
    assert str(stored["id"]) != READ_ONLY["id"]
    assert stored["created_at"].year != 2020
    assert response.data["open_incidents_count"] == 0
    assert response.data["recent_metrics"] is None


def test_credentials_are_write_only_and_a_patch_without_them_keeps_them(
    as_manager: Any,
) -> None:
    created = as_manager.post(
        URL,
        valid(auth_type="bearer", auth_config={"token": CANARY}),
        format="json",
    )
    assert created.status_code == 201, created.data
    assert created.data["auth_config"] == {"token": PLACEHOLDER}
    url = f"{URL}{created.data['id']}/"

    as_manager.patch(url, {"display_name": "Payments v2"}, format="json")
    as_manager.patch(url, {"auth_config": {"token": PLACEHOLDER}}, format="json")
    as_manager.put(url, {**created.data, "display_name": "Payments v3"}, format="json")

    row = Integration.objects.get(pk=created.data["id"])
    assert row.auth_config.reveal() == {"token": CANARY}
    assert row.display_name == "Payments v3"


def test_a_new_credential_value_replaces_the_old_one_and_is_audited_by_name(
    as_manager: Any,
) -> None:
    row = IntegrationFactory(
        auth_type="basic", auth_config={"username": "u", "password": "old"}
    )

    response = as_manager.patch(
        f"{URL}{row.pk}/", {"auth_config": {"password": CANARY}}, format="json"
    )

    assert response.status_code == 200, response.data
    row.refresh_from_db()
    assert row.auth_config.reveal() == {"username": "u", "password": CANARY}
    event = AuditEvent.objects.get(action="update", object_id=str(row.pk))
    assert event.details["credentials_changed"] == ["password"]
    assert CANARY not in str(event.details)


@pytest.mark.parametrize(
    ("auth_type", "auth_config"),
    [
        ("bearer", {}),
        ("bearer", {"token": ""}),
        ("basic", {"username": "u"}),
        ("bearer", {"password": "x"}),
        ("bearer", {"token": "a\r\nb"}),
        ("bearer", {"token": 5}),
        ("bearer", {"token": "x" * 5000}),
        ("bearer", {"not_a_key": "x"}),
        ("bearer", "token"),
        (
            "oauth",
            {"token_url": "http://10.1.1.1/t", "client_id": "a", "client_secret": "b"},
        ),
        ("oauth", {"token_url": "gopher://x", "client_id": "a", "client_secret": "b"}),
        ("api_key", {"api_key": "k", "header_name": "Bad Header"}),
        ("api_key", {"api_key": "k", "query_param": "a&b=c"}),
    ],
)
def test_it_refuses_credentials_that_do_not_fit_the_auth_type(
    as_manager: Any, auth_type: str, auth_config: Any
) -> None:
    response = as_manager.post(
        URL, valid(auth_type=auth_type, auth_config=auth_config), format="json"
    )

    assert response.status_code == 400
    assert "auth_config" in response.data


def test_changing_the_auth_type_drops_credentials_that_no_longer_apply(
    as_manager: Any,
) -> None:
    row = IntegrationFactory(auth_type="bearer", auth_config={"token": "t"})

    response = as_manager.patch(
        f"{URL}{row.pk}/",
        {"auth_type": "basic", "auth_config": {"username": "u", "password": "p"}},
        format="json",
    )

    assert response.status_code == 200, response.data
    row.refresh_from_db()
    assert row.auth_config.reveal() == {"username": "u", "password": "p"}


def test_null_credentials_clear_them_when_the_auth_type_needs_none(
    as_manager: Any,
) -> None:
    row = IntegrationFactory(auth_type="bearer", auth_config={"token": "t"})

    response = as_manager.patch(
        f"{URL}{row.pk}/", {"auth_type": "none", "auth_config": None}, format="json"
    )

    assert response.status_code == 200, response.data
    row.refresh_from_db()
    assert row.auth_config is None


def test_header_values_are_write_only_and_the_placeholder_keeps_one(
    as_manager: Any,
) -> None:
    row = IntegrationFactory(custom_headers={"X-Api-Key": CANARY, "X-Team": "ops"})

    response = as_manager.patch(
        f"{URL}{row.pk}/",
        {"custom_headers": {"X-Api-Key": PLACEHOLDER, "X-Region": "eu"}},
        format="json",
    )

    assert response.status_code == 200, response.data
    assert response.data["custom_headers"] == {
        "X-Api-Key": PLACEHOLDER,
        "X-Region": PLACEHOLDER,
    }
    row.refresh_from_db()
    assert row.custom_headers.reveal() == {"X-Api-Key": CANARY, "X-Region": "eu"}


def test_the_placeholder_for_a_header_never_stored_is_refused(as_manager: Any) -> None:
    row = IntegrationFactory()

    response = as_manager.patch(
        f"{URL}{row.pk}/", {"custom_headers": {"X-New": PLACEHOLDER}}, format="json"
    )

    assert response.status_code == 400
    assert "custom_headers" in response.data


def test_the_list_puts_critical_first_then_worst_status_then_name(
    api_as: Any, staff: Any
) -> None:
    IntegrationFactory(
        display_name="B ok", is_critical=False, current_health_status="healthy"
    )
    IntegrationFactory(
        display_name="A down", is_critical=False, current_health_status="critical"
    )
    IntegrationFactory(
        display_name="C crit ok", is_critical=True, current_health_status="healthy"
    )
    IntegrationFactory(
        display_name="D crit warn", is_critical=True, current_health_status="warning"
    )
    IntegrationFactory(
        display_name="E unknown", is_critical=False, current_health_status="unknown"
    )

    names = [r["display_name"] for r in api_as(staff).get(URL).data["results"]]

    assert names == ["D crit warn", "C crit ok", "A down", "E unknown", "B ok"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=critical", {"down"}),
        ("status=all", {"down", "fine", "db"}),
        ("category=internal", {"db"}),
        ("service_type=database", {"db"}),
        ("is_critical=true", {"fine"}),
        ("search=stripe", {"down"}),
        ("search=ledger", {"db"}),
        ("search=STRIPE", {"down"}),
    ],
)
def test_the_list_filters_and_searches(
    api_as: Any, staff: Any, query: str, expected: set[str]
) -> None:
    IntegrationFactory(
        name="down", display_name="Stripe", current_health_status="critical"
    )
    IntegrationFactory(name="fine", is_critical=True, current_health_status="healthy")
    IntegrationFactory(
        name="db",
        category="internal",
        service_type="database",
        description="The ledger",
    )

    response = api_as(staff).get(f"{URL}?{query}")

    assert response.status_code == 200
    assert {r["name"] for r in response.data["results"]} == expected


@pytest.mark.parametrize(
    "query",
    ["status=purple", "is_critical=maybe", "category=orbital", "page=0", "page=x"],
)
def test_bad_query_parameters_answer_400_or_404_never_500(
    api_as: Any, staff: Any, query: str
) -> None:
    response = api_as(staff).get(f"{URL}?{query}")

    assert response.status_code in {400, 404}


def test_page_size_is_capped(api_as: Any, staff: Any) -> None:
    IntegrationFactory.create_batch(3)

    response = api_as(staff).get(f"{URL}?page_size=100000")

    assert response.status_code == 200
    assert response.data["count"] == 3


def test_a_list_item_carries_open_incidents_and_its_newest_hourly_row(
    api_as: Any, staff: Any
) -> None:
    row = IntegrationFactory()
    IncidentFactory(alert_rule__integration=row)
    IncidentFactory(alert_rule__integration=row, status="acknowledged")
    IncidentFactory(alert_rule__integration=row, status="resolved")
    MetricFactory(integration=row, metric_date="2026-01-01", metric_hour=5)
    MetricFactory(integration=row, metric_date="2026-01-02", metric_hour=3)

    item = api_as(staff).get(URL).data["results"][0]

    assert item["open_incidents_count"] == 2
    assert item["recent_metrics"]["metric_date"] == "2026-01-02"
    assert item["recent_metrics"]["metric_hour"] == 3
    assert item["recent_metrics"]["hour_start"].startswith("2026-01-02T03:00")


def test_delete_is_audited_with_what_was_there(as_manager: Any, manager: Any) -> None:
    row = IntegrationFactory(display_name="Gone soon")

    response = as_manager.delete(f"{URL}{row.pk}/")

    assert response.status_code == 204
    event = AuditEvent.objects.get(action="delete", object_id=str(row.pk))
    assert event.details["before"]["display_name"] == ["Gone soon", None]
    assert event.actor == manager


def test_a_duplicate_name_is_a_field_error(as_manager: Any) -> None:
    IntegrationFactory(name="payments")

    response = as_manager.post(URL, valid(), format="json")

    assert response.status_code == 400
    assert "name" in response.data
