"""Dependencies, maintenance windows, system config, audit log and dashboard."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest
from django.utils import timezone

from alerts_app.models import MaintenanceWindow
from integrations_app.models import AuditEvent, Dependency, SystemConfig
from tests.api.factories import (
    AuditEventFactory,
    IncidentFactory,
    MaintenanceWindowFactory,
    MetricFactory,
)
from tests.integrations_app.factories import DependencyFactory, IntegrationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_manager(api_as: Any, manager: Any) -> Any:
    return api_as(manager)


@pytest.fixture
def as_superadmin(api_as: Any, superadmin: Any) -> Any:
    return api_as(superadmin)


def later(hours: float) -> str:
    return (timezone.now() + datetime.timedelta(hours=hours)).isoformat()


class TestDependencies:
    def test_it_refuses_an_integration_depending_on_itself(
        self, as_manager: Any
    ) -> None:
        a = IntegrationFactory()

        response = as_manager.post(
            "/api/dependencies/",
            {
                "integration": str(a.pk),
                "depends_on": str(a.pk),
                "dependency_type": "hard",
            },
            format="json",
        )

        assert response.status_code == 400
        assert "depends_on" in response.data

    @pytest.mark.parametrize("length", [2, 3, 5])
    def test_it_refuses_an_edge_that_closes_a_cycle(
        self, as_manager: Any, length: int
    ) -> None:
        chain = IntegrationFactory.create_batch(length)
        for first, second in itertools.pairwise(chain):
            DependencyFactory(integration=first, depends_on=second)

        response = as_manager.post(
            "/api/dependencies/",
            {
                "integration": str(chain[-1].pk),
                "depends_on": str(chain[0].pk),
                "dependency_type": "soft",
            },
            format="json",
        )

        assert response.status_code == 400
        assert "depends_on" in response.data
        assert Dependency.objects.count() == length - 1

    def test_it_refuses_an_edit_that_closes_a_cycle(self, as_manager: Any) -> None:
        a, b, c = IntegrationFactory.create_batch(3)
        DependencyFactory(integration=a, depends_on=b)
        edge = DependencyFactory(integration=b, depends_on=c)

        response = as_manager.patch(
            f"/api/dependencies/{edge.pk}/", {"depends_on": str(a.pk)}, format="json"
        )

        assert response.status_code == 400

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("dependency_type", "mandatory"),
            ("propagation_delay_minutes", -1),
            ("propagation_delay_minutes", 100000),
            ("integration", "00000000-0000-0000-0000-000000000000"),
            ("depends_on", "not-a-uuid"),
        ],
    )
    def test_it_refuses_bad_values(
        self, as_manager: Any, field: str, value: Any
    ) -> None:
        a, b = IntegrationFactory.create_batch(2)
        body = {
            "integration": str(a.pk),
            "depends_on": str(b.pk),
            "dependency_type": "hard",
        }

        response = as_manager.post(
            "/api/dependencies/", {**body, field: value}, format="json"
        )

        assert response.status_code == 400
        assert field in response.data

    def test_a_duplicate_pair_is_a_field_error(self, as_manager: Any) -> None:
        edge = DependencyFactory()

        response = as_manager.post(
            "/api/dependencies/",
            {
                "integration": str(edge.integration_id),
                "depends_on": str(edge.depends_on_id),
                "dependency_type": "soft",
            },
            format="json",
        )

        assert response.status_code == 400


class TestMaintenanceWindows:
    def body(self, **overrides: Any) -> dict[str, Any]:
        target = IntegrationFactory()
        body = {
            "title": "database upgrade",
            "scheduled_start": later(24),
            "scheduled_end": later(26),
            "affected_integrations": [str(target.pk)],
        }
        body.update(overrides)
        return body

    def test_it_creates_a_window_owned_by_its_creator(
        self, as_manager: Any, manager: Any
    ) -> None:
        response = as_manager.post(
            "/api/maintenance-windows/", self.body(), format="json"
        )

        assert response.status_code == 201, response.data
        window = MaintenanceWindow.objects.get(pk=response.data["id"])
        assert window.created_by == manager
        assert window.affected_integrations.count() == 1

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("scheduled_end", later(23)),
            ("scheduled_end", later(24)),
            ("scheduled_end", later(24 * 40)),
            ("scheduled_start", "tomorrow"),
            ("affected_integrations", []),
            ("affected_integrations", ["00000000-0000-0000-0000-000000000000"]),
            ("affected_integrations", ["nope"]),
            ("expected_impact", "total"),
            ("notification_advance_hours", -1),
            ("status", "completed"),
        ],
    )
    def test_it_refuses_bad_values(
        self, as_manager: Any, field: str, value: Any
    ) -> None:
        response = as_manager.post(
            "/api/maintenance-windows/", self.body(**{field: value}), format="json"
        )

        assert response.status_code == 400
        assert field in response.data
        assert not MaintenanceWindow.objects.exists()

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("approved_by", 1),
            ("approved_at", "2020-01-01T00:00:00Z"),
            ("actual_start", "2020-01-01T00:00:00Z"),
            ("actual_end", "2020-01-01T00:00:00Z"),
            ("notifications_sent", True),
            ("created_by", 1),
            ("created_at", "2020-01-01T00:00:00Z"),
        ],
    )
    def test_a_read_only_field_sent_is_never_stored(
        self, as_manager: Any, field: str, value: Any
    ) -> None:
        window = MaintenanceWindowFactory()

        response = as_manager.patch(
            f"/api/maintenance-windows/{window.pk}/", {field: value}, format="json"
        )

        assert response.status_code == 200
        fresh = MaintenanceWindow.objects.get(pk=window.pk)
        assert fresh.approved_by is None and fresh.approved_at is None
        assert fresh.actual_start is None and fresh.actual_end is None
        assert fresh.notifications_sent is False
        assert fresh.created_by is None
        assert fresh.created_at.year != 2020

    def test_approval_records_who_and_a_second_one_is_a_conflict(
        self, api_as: Any, manager: Any, superadmin: Any
    ) -> None:
        window = MaintenanceWindowFactory()
        url = f"/api/maintenance-windows/{window.pk}/approve/"

        first = api_as(manager).post(url)
        second = api_as(superadmin).post(url)

        assert first.status_code == 200
        assert first.data["approved_by"] == manager.username
        assert second.status_code == 409
        assert manager.username in second.data["detail"]
        assert AuditEvent.objects.filter(action="approve").count() == 1

    def test_moving_an_approved_window_withdraws_the_approval(
        self, as_manager: Any, manager: Any
    ) -> None:
        window = MaintenanceWindowFactory(
            approved_by=manager, approved_at=timezone.now()
        )

        response = as_manager.patch(
            f"/api/maintenance-windows/{window.pk}/",
            {"scheduled_end": later(30)},
            format="json",
        )

        assert response.status_code == 200
        assert response.data["approved_at"] is None

    def test_a_cancelled_window_can_be_neither_approved_nor_edited(
        self, as_manager: Any
    ) -> None:
        window = MaintenanceWindowFactory(status="cancelled")

        approve = as_manager.post(f"/api/maintenance-windows/{window.pk}/approve/")
        edit = as_manager.patch(
            f"/api/maintenance-windows/{window.pk}/", {"title": "x"}, format="json"
        )

        assert approve.status_code == 409
        assert edit.status_code == 400


class TestSystemConfig:
    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("max_consecutive_failures", 0),
            ("max_consecutive_failures", "3"),
            ("max_consecutive_failures", True),
            ("max_consecutive_failures", 2.5),
            ("default_timeout_seconds", 500),
            ("metrics_retention_days", -1),
            ("enable_auto_recovery_detection", "yes"),
            ("business_hours_start", "8am"),
            ("business_hours_end", "24:00"),
            ("notification_rate_limit", None),
        ],
    )
    def test_it_refuses_a_value_the_engines_cannot_use(
        self, as_superadmin: Any, key: str, value: Any
    ) -> None:
        before = SystemConfig.objects.get(config_key=key).config_value

        response = as_superadmin.patch(
            f"/api/system-config/{key}/", {"config_value": value}, format="json"
        )

        assert response.status_code == 400
        assert "config_value" in response.data
        assert SystemConfig.objects.get(config_key=key).config_value == before

    def test_a_change_is_stamped_and_audited(
        self, as_superadmin: Any, superadmin: Any
    ) -> None:
        response = as_superadmin.patch(
            "/api/system-config/max_consecutive_failures/",
            {"config_value": 5},
            format="json",
        )

        assert response.status_code == 200
        row = SystemConfig.objects.get(config_key="max_consecutive_failures")
        assert row.config_value == 5
        assert row.last_updated_by == superadmin
        event = AuditEvent.objects.get(action="update", object_id=str(row.pk))
        assert event.details["changes"]["config_value"] == [3, 5]

    def test_a_key_cannot_be_renamed(self, as_superadmin: Any) -> None:
        response = as_superadmin.patch(
            "/api/system-config/max_consecutive_failures/",
            {"config_key": "other"},
            format="json",
        )

        assert response.status_code == 400
        assert "config_key" in response.data

    def test_a_row_schema_is_enforced(self, as_superadmin: Any) -> None:
        created = as_superadmin.post(
            "/api/system-config/",
            {
                "config_key": "status_page_title",
                "config_value": "Status",
                "validation_schema": {"type": "string", "maxLength": 10},
            },
            format="json",
        )
        assert created.status_code == 201, created.data

        response = as_superadmin.patch(
            "/api/system-config/status_page_title/",
            {"config_value": "x" * 11},
            format="json",
        )

        assert response.status_code == 400

    def test_an_encrypted_value_reads_as_the_placeholder(
        self, as_superadmin: Any
    ) -> None:
        SystemConfig.objects.create(
            config_key="pager_key", config_value="s3cr3t-value", is_encrypted=True
        )

        response = as_superadmin.get("/api/system-config/pager_key/")
        as_superadmin.patch(
            "/api/system-config/pager_key/",
            {"config_value": response.data["config_value"]},
            format="json",
        )

        assert "s3cr3t-value" not in str(response.data)
        assert SystemConfig.objects.get(config_key="pager_key").config_value == (
            "s3cr3t-value"
        )


class TestAuditLog:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("actor=mia_manager", {"a", "b"}),
            ("action=delete", {"b"}),
            ("object_type=alerts_app.alertrule", {"c"}),
            ("object_id=42", {"a"}),
            ("since=2026-06-01T00:00:00Z", {"b", "c"}),
            ("until=2026-06-01T00:00:00Z", {"a"}),
        ],
    )
    def test_it_filters_by_actor_action_object_and_time(
        self, as_manager: Any, query: str, expected: set[str]
    ) -> None:
        rows = {
            "a": AuditEventFactory(actor_name="mia_manager", object_id="42"),
            "b": AuditEventFactory(actor_name="mia_manager", action="delete"),
            "c": AuditEventFactory(object_type="alerts_app.alertrule"),
        }
        AuditEvent.objects.filter(pk=rows["a"].pk).update(
            created_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        )
        AuditEvent.objects.exclude(pk=rows["a"].pk).update(
            created_at=datetime.datetime(2026, 7, 1, tzinfo=datetime.UTC)
        )
        names = {str(row.pk): name for name, row in rows.items()}

        response = as_manager.get(f"/api/audit-log/?{query}")

        assert response.status_code == 200
        assert {names[r["id"]] for r in response.data["results"]} == expected

    def test_a_bad_time_is_a_field_error(self, as_manager: Any) -> None:
        response = as_manager.get("/api/audit-log/?since=yesterday")

        assert response.status_code == 400
        assert "since" in response.data


class TestDashboard:
    def test_it_counts_statuses_down_criticals_incidents_and_uptime(
        self, api_as: Any, staff: Any
    ) -> None:
        down = IntegrationFactory(is_critical=True, current_health_status="critical")
        IntegrationFactory(current_health_status="critical")
        IntegrationFactory(current_health_status="healthy")
        IntegrationFactory(current_health_status="healthy", is_active=False)
        IncidentFactory(severity="urgent")
        IncidentFactory(severity="warning", status="acknowledged")
        IncidentFactory(severity="warning", status="resolved")
        now = timezone.now()
        MetricFactory(
            metric_date=now.date(),
            metric_hour=now.hour,
            total_checks=10,
            successful_checks=9,
        )
        old = now - datetime.timedelta(days=3)
        MetricFactory(
            metric_date=old.date(),
            metric_hour=old.hour,
            total_checks=10,
            successful_checks=0,
        )

        data = api_as(staff).get("/api/dashboard/").data

        # Each incident's factory made an integration of its own, healthy-unknown.
        assert data["integrations"]["by_status"]["critical"] == 2
        assert data["integrations"]["by_status"]["healthy"] == 1
        assert [i["id"] for i in data["critical_down"]] == [str(down.pk)]
        assert data["open_incidents"] == {
            "total": 2,
            "by_severity": {"info": 0, "warning": 1, "critical": 0, "urgent": 1},
        }
        assert data["uptime_24h"]["total_checks"] == 10
        assert data["uptime_24h"]["uptime_percentage"] == 90.0


class TestMetricsRange:
    @pytest.mark.parametrize(
        "query",
        [
            "since=yesterday",
            "until=2026-13-01",
            "since=2026-01-10&until=2026-01-01",
            "since=2025-01-01&until=2026-01-01",
            "since=2020-01-01",
        ],
    )
    def test_it_refuses_a_bad_or_unbounded_range(
        self, api_as: Any, staff: Any, query: str
    ) -> None:
        row = IntegrationFactory()

        response = api_as(staff).get(f"/api/integrations/{row.pk}/metrics/?{query}")

        assert response.status_code == 400
        assert {"since", "until"} & set(response.data)

    def test_it_answers_the_hours_within_the_range_newest_first(
        self, api_as: Any, staff: Any
    ) -> None:
        row = IntegrationFactory()
        for day, hour in [(1, 23), (2, 0), (2, 5), (3, 0)]:
            MetricFactory(
                integration=row, metric_date=f"2026-03-0{day}", metric_hour=hour
            )
        MetricFactory(metric_date="2026-03-02", metric_hour=1)

        response = api_as(staff).get(
            f"/api/integrations/{row.pk}/metrics/"
            "?since=2026-03-02T00:00:00Z&until=2026-03-02T23:59:59Z"
        )

        assert response.status_code == 200
        hours = [(r["metric_date"], r["metric_hour"]) for r in response.data["results"]]
        assert hours == [("2026-03-02", 5), ("2026-03-02", 0)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "00000000-0000-0000-0000-000000000001"),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("integration_name", "Spoofed"),
        ("depends_on_name", "Spoofed"),
    ],
)
def test_a_read_only_dependency_field_sent_is_never_stored(
    as_manager: Any, field: str, value: Any
) -> None:
    edge = DependencyFactory()

    response = as_manager.patch(
        f"/api/dependencies/{edge.pk}/", {field: value}, format="json"
    )

    assert response.status_code == 200
    fresh = Dependency.objects.get(pk=edge.pk)
    assert fresh.created_at.year != 2020
    assert fresh.integration.display_name != "Spoofed"
    assert fresh.depends_on.display_name != "Spoofed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "00000000-0000-0000-0000-000000000001"),
        ("last_updated_by", 1),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("updated_at", "2020-01-01T00:00:00Z"),
    ],
)
def test_a_read_only_config_field_sent_is_never_stored(
    as_superadmin: Any, superadmin: Any, field: str, value: Any
) -> None:
    response = as_superadmin.patch(
        "/api/system-config/max_consecutive_failures/",
        {field: value, "config_value": 4},
        format="json",
    )

    assert response.status_code == 200
    row = SystemConfig.objects.get(config_key="max_consecutive_failures")
    assert str(row.pk) != "00000000-0000-0000-0000-000000000001"
    assert row.last_updated_by == superadmin
    assert row.created_at.year != 2020 and row.updated_at.year != 2020
