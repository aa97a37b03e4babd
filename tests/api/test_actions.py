"""The manual test and uptime actions, IDOR attempts and the canary secret."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from integrations_app.models import AuditEvent, HealthCheck
from tests.api.conftest import CANARY
from tests.api.factories import MetricFactory
from tests.api.test_roles import CALLS
from tests.integrations_app.factories import HealthCheckFactory, IntegrationFactory

pytestmark = pytest.mark.django_db


class _Healthy(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_service(settings: Any) -> Iterator[str]:
    settings.MONITOR_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_manual_test_runs_one_check_and_answers_its_result(
    api_as: Any, staff: Any, local_service: str
) -> None:
    row = IntegrationFactory(
        base_url=local_service,
        auth_type="bearer",
        auth_config={"token": CANARY},
    )

    response = api_as(staff).post(f"/api/integrations/{row.pk}/test/")

    assert response.status_code == 200, response.data
    assert set(response.data) == {
        "health_status",
        "response_time_ms",
        "status_code",
        "is_successful",
        "error_message",
        "tested_at",
    }
    assert response.data["status_code"] == 200
    assert response.data["is_successful"] is True
    check = HealthCheck.objects.get(integration=row)
    assert (check.check_type, check.triggered_by) == ("manual", staff)
    assert _Healthy.seen[-1]["Authorization"] == f"Bearer {CANARY}"
    assert CANARY not in json.dumps(response.data)
    event = AuditEvent.objects.get(action="test", object_id=str(row.pk))
    assert event.actor == staff


@pytest.mark.usefixtures("no_dns")
def test_a_manual_test_of_an_unreachable_service_answers_the_failure(
    api_as: Any, staff: Any
) -> None:
    row = IntegrationFactory(base_url="https://nowhere.example.com")

    response = api_as(staff).post(f"/api/integrations/{row.pk}/test/")

    assert response.status_code == 200
    assert response.data["is_successful"] is False
    assert response.data["health_status"] == "critical"
    assert response.data["error_message"]


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_uptime_answers_the_summary_of_a_window(
    api_as: Any, staff: Any, window: str
) -> None:
    row = IntegrationFactory()
    hours_ago = timezone.now() - datetime.timedelta(hours=5)
    MetricFactory(
        integration=row,
        metric_date=hours_ago.date(),
        metric_hour=hours_ago.hour,
        total_checks=10,
        successful_checks=9,
    )

    response = api_as(staff).get(f"/api/integrations/{row.pk}/uptime/?window={window}")

    assert response.status_code == 200, response.data
    assert response.data["window"] == window
    assert response.data["total_checks"] == 10
    assert float(response.data["uptime_percentage"]) == 90.0


@pytest.mark.parametrize("window", ["1h", "", "7D", "30d;drop"])
def test_uptime_refuses_an_unknown_window(api_as: Any, staff: Any, window: str) -> None:
    row = IntegrationFactory()

    response = api_as(staff).get(f"/api/integrations/{row.pk}/uptime/?window={window}")

    assert response.status_code == 400
    assert "window" in response.data


MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    "path",
    [
        f"/api/integrations/{MISSING}/",
        f"/api/integrations/{MISSING}/test/",
        f"/api/integrations/{MISSING}/metrics/",
        f"/api/integrations/{MISSING}/uptime/",
        f"/api/integrations/{MISSING}/health-checks/",
        "/api/integrations/not-a-uuid/",
        "/api/integrations/not-a-uuid/health-checks/",
        "/api/integrations/not-a-uuid/metrics/",
        f"/api/incidents/{MISSING}/",
        f"/api/incidents/{MISSING}/acknowledge/",
        f"/api/maintenance-windows/{MISSING}/approve/",
        f"/api/alert-rules/{MISSING}/",
        f"/api/dependencies/{MISSING}/",
        f"/api/baselines/{MISSING}/",
        f"/api/audit-log/{MISSING}/",
        "/api/system-config/no_such_key/",
    ],
)
def test_an_id_that_does_not_exist_answers_404(
    api_as: Any, superadmin: Any, path: str
) -> None:
    method = "post" if path.endswith(("test/", "acknowledge/", "approve/")) else "get"

    response = getattr(api_as(superadmin), method)(path)

    assert response.status_code == 404


def test_another_integrations_check_is_not_found_under_this_one(
    api_as: Any, staff: Any
) -> None:
    mine, theirs = IntegrationFactory(), IntegrationFactory()
    check = HealthCheckFactory(integration=theirs)

    response = api_as(staff).get(
        f"/api/integrations/{mine.pk}/health-checks/{check.pk}/"
    )
    listing = api_as(staff).get(f"/api/integrations/{mine.pk}/health-checks/")

    assert response.status_code == 404
    assert listing.data["count"] == 0


@pytest.mark.usefixtures("no_dns")
def test_the_canary_secret_is_in_no_response_audit_event_or_log_line(
    world: dict[str, Any],
    client_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[bytes] = []
    for role in ("staff", "manager", "superadmin"):
        client = client_for(role)
        for call in CALLS:
            if call.method == "get":
                answers.append(client.get(call.url(world)).content)
        answers.append(
            client.get(
                f"/api/integrations/{world['integration'].pk}/?format=api",
            ).content
        )
    manager = client_for("manager")
    changed = manager.patch(
        f"/api/integrations/{world['integration'].pk}/",
        {"auth_config": {"token": CANARY + "-2"}, "display_name": "Renamed"},
        format="json",
    )
    answers.append(changed.content)
    answers.append(
        manager.post(f"/api/integrations/{world['integration'].pk}/test/").content
    )
    answers.append(client_for("superadmin").get("/api/audit-log/").content)

    assert all(CANARY.encode() not in body for body in answers)
    events = json.dumps(list(AuditEvent.objects.values("details", "object_repr")))
    assert CANARY not in events
    assert CANARY not in caplog.text
    assert world["integration"].health_checks.exists()
    assert not HealthCheck.objects.filter(error_message__contains=CANARY).exists()
