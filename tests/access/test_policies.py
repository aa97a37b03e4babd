"""The database's own rules, tested with raw ORM queries and no view in between."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Model

from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from integrations_app.models import (
    Dependency,
    HealthCheck,
    Integration,
    SystemConfig,
)
from metrics_app.models import Baseline, Metric
from monitor_project import access
from monitor_project.roles import SYSTEM

pytestmark = pytest.mark.django_db

GUARDED_TABLES = [
    "integrations",
    "integration_health_checks",
    "integration_metrics",
    "alert_rules",
    "alert_incidents",
    "integration_dependencies",
    "maintenance_windows",
    "integration_baselines",
    "integration_system_config",
    "maintenance_window_integrations",
]
ROLES = ["staff", "manager", "superadmin", "system", None, "postgres"]
EVERYONE = {"staff", "manager", "superadmin", "system"}
MANAGERS = {"manager", "superadmin", "system"}
SUPERADMINS = {"superadmin", "system"}
Through = MaintenanceWindow.affected_integrations.through

# model, who reads it, who changes it, a harmless change
TABLES: list[tuple[type[Model], set[str], set[str], dict[str, Any]]] = [
    (Integration, EVERYONE, MANAGERS, {"description": "changed"}),
    (HealthCheck, EVERYONE, SUPERADMINS, {"error_message": "changed"}),
    (Metric, EVERYONE, {"system"}, {"timeout_count": 9}),
    (Baseline, EVERYONE, {"system"}, {"sample_size": 9}),
    (Dependency, EVERYONE, MANAGERS, {"description": "changed"}),
    (AlertRule, MANAGERS, MANAGERS, {"rule_description": "changed"}),
    (Incident, EVERYONE, MANAGERS, {"business_impact": "low"}),
    (MaintenanceWindow, EVERYONE, MANAGERS, {"description": "changed"}),
    (Through, EVERYONE, MANAGERS, {}),
    (SystemConfig, MANAGERS, SUPERADMINS, {"description": "changed"}),
]


def visible(model: type[Model]) -> int:
    return model._default_manager.count()


def test_queries_run_as_a_role_that_cannot_skip_policies() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        user, superuser, bypasses = cursor.fetchone()

    assert user == "monitor_app"
    assert not superuser
    assert not bypasses


def test_row_security_is_forced_on_every_guarded_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) "
            "AND relrowsecurity AND relforcerowsecurity",
            [GUARDED_TABLES],
        )
        forced = {row[0] for row in cursor.fetchall()}

    assert forced == set(GUARDED_TABLES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "readers", "writers", "change"), TABLES)
def test_each_role_reads_only_what_the_role_table_allows(
    world: dict[str, Any],
    role: str | None,
    model: type[Model],
    readers: set[str],
    writers: set[str],
    change: dict[str, Any],
) -> None:
    with access.acting_as(role, 1):
        seen = visible(model)

    assert (seen > 0) == (role in readers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("model", "readers", "writers", "change"), [t for t in TABLES if t[3]]
)
def test_each_role_changes_only_what_the_role_table_allows(
    world: dict[str, Any],
    role: str | None,
    model: type[Model],
    readers: set[str],
    writers: set[str],
    change: dict[str, Any],
) -> None:
    queryset = model._default_manager.all()
    if model is Incident:
        # Staff may touch open incidents; this one is closed to them.
        queryset = queryset.filter(pk=world["acknowledged_incident"].pk)

    with access.acting_as(role, 1):
        changed = queryset.update(**change)

    assert (changed > 0) == (role in writers)
    field, value = next(iter(change.items()))
    stored = set(queryset.values_list(field, flat=True))
    assert (value in stored) == (role in writers)


@pytest.mark.parametrize("role", ["staff", None])
def test_staff_and_nobody_cannot_create_integrations_or_alert_rules(
    world: dict[str, Any], role: str | None
) -> None:
    with access.acting_as(role, 1):
        for create in (
            lambda: Integration.objects.create(
                name="sneaky", display_name="Sneaky", service_type="api"
            ),
            lambda: AlertRule.objects.create(
                rule_name="sneaky",
                alert_type="custom",
                condition_metric="response_time",
                condition_operator=">",
                condition_threshold=1,
                severity="info",
            ),
        ):
            with (
                pytest.raises(DatabaseError, match="row-level security"),
                transaction.atomic(),
            ):
                create()

    assert not Integration.objects.filter(name="sneaky").exists()
    assert not AlertRule.objects.filter(rule_name="sneaky").exists()


def test_staff_see_no_alert_rules_through_a_raw_orm_query(
    world: dict[str, Any], staff: Any
) -> None:
    with access.acting_as_user(staff):
        rules = list(AlertRule.objects.all())
        through_incidents = list(
            AlertRule.objects.filter(incidents__isnull=False).distinct()
        )

    assert rules == []
    assert through_incidents == []
    assert AlertRule.objects.count() == 2


def test_a_staff_update_of_an_integration_changes_no_row(
    world: dict[str, Any], staff: Any
) -> None:
    integration = world["integration"]

    with access.acting_as_user(staff):
        changed = Integration.objects.filter(pk=integration.pk).update(
            display_name="Hijacked", is_active=False
        )
        deleted, _ = Integration.objects.filter(pk=integration.pk).delete()

    assert changed == 0
    assert deleted == 0
    stored = Integration.objects.get(pk=integration.pk)
    assert stored.display_name == integration.display_name
    assert stored.is_active


def test_staff_cannot_update_an_incident_another_user_acknowledged(
    world: dict[str, Any], staff: Any, other_staff: Any
) -> None:
    incident = world["acknowledged_incident"]

    with access.acting_as_user(staff):
        stolen = Incident.objects.filter(pk=incident.pk).update(
            status="resolved", resolved_by=staff, resolution_note="mine now"
        )
    with access.acting_as_user(other_staff):
        resolved = Incident.objects.filter(pk=incident.pk).update(
            status="resolved", resolved_by=other_staff, resolution_note="fixed"
        )

    assert stolen == 0
    assert resolved == 1
    assert Incident.objects.get(pk=incident.pk).resolved_by == other_staff


def test_staff_acknowledge_an_open_incident_but_only_in_their_own_name(
    world: dict[str, Any], staff: Any, other_staff: Any
) -> None:
    incident = world["open_incident"]

    with access.acting_as_user(staff):
        with (
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
        ):
            Incident.objects.filter(pk=incident.pk).update(
                status="acknowledged", acknowledged_by=other_staff
            )
        acknowledged = Incident.objects.filter(pk=incident.pk).update(
            status="acknowledged", acknowledged_by=staff
        )
        resolved = Incident.objects.filter(pk=incident.pk).update(status="resolved")
        reopened = Incident.objects.filter(pk=incident.pk).update(status="open")

    assert (acknowledged, resolved, reopened) == (1, 1, 0)
    assert Incident.objects.get(pk=incident.pk).status == "resolved"


def test_a_manager_deletes_an_integration_with_its_whole_history(
    world: dict[str, Any], manager: Any
) -> None:
    for incident in ("open_incident", "acknowledged_incident"):
        world[incident].delete()

    with access.acting_as_user(manager):
        Integration.objects.get(pk=world["integration"].pk).delete()

    assert not Integration.objects.filter(pk=world["integration"].pk).exists()
    assert not HealthCheck.objects.filter(pk=world["health_check"].pk).exists()
    assert not Metric.objects.filter(pk=world["metric"].pk).exists()


def test_a_connection_nobody_vouched_for_sees_and_changes_nothing() -> None:
    # The rows the data migration committed: five integrations, the config.
    fresh = connections["default"].copy()
    access.set_process_default(None)
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.role', true)")
            role = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM integrations")
            integrations = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM integration_system_config")
            config = cursor.fetchone()[0]
            cursor.execute("UPDATE integrations SET is_active = false")
            updated = cursor.rowcount
            cursor.execute("DELETE FROM integration_system_config")
            deleted = cursor.rowcount
    finally:
        fresh.close()
        access.set_process_default(SYSTEM)

    assert role == ""
    assert (integrations, config, updated, deleted) == (0, 0, 0, 0)
    assert Integration.objects.filter(is_active=True).count() >= 5
    assert SystemConfig.objects.count() >= 10


def test_acting_as_puts_the_previous_role_back_even_after_a_failure(
    staff: Any,
) -> None:
    with pytest.raises(ZeroDivisionError), access.acting_as_user(staff):
        1 / 0  # noqa: B018

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.role', true)")
        assert cursor.fetchone()[0] == SYSTEM


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["manage.py", "migrate"], SYSTEM),
        (["manage.py", "seed_demo"], SYSTEM),
        (["manage.py", "shell"], SYSTEM),
        (["manage.py"], SYSTEM),
        (["manage.py", "runserver"], None),
    ],
)
def test_management_commands_act_as_the_system_but_the_server_does_not(
    argv: list[str], role: str | None
) -> None:
    assert access.command_role(argv) == role


def test_the_migration_reverses_and_applies_again() -> None:
    def forced() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_class WHERE relname = ANY(%s) "
                "AND relrowsecurity AND relforcerowsecurity",
                [GUARDED_TABLES],
            )
            return int(cursor.fetchone()[0])

    def policies() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_policies WHERE tablename = ANY(%s)",
                [GUARDED_TABLES],
            )
            return int(cursor.fetchone()[0])

    before = policies()
    call_command("migrate", "access_app", "zero", verbosity=0)
    reversed_state = (forced(), policies())
    call_command("migrate", "access_app", verbosity=0)

    assert reversed_state == (0, 0)
    assert (forced(), policies()) == (len(GUARDED_TABLES), before)
    assert before > len(GUARDED_TABLES)


def test_a_row_staff_may_read_but_not_change_is_hidden_from_a_lock_but_still_read(
    world: dict[str, Any], staff: Any, other_staff: Any
) -> None:
    held = world["acknowledged_incident"]
    open_incident = world["open_incident"]

    with access.acting_as_user(staff):
        with pytest.raises(Incident.DoesNotExist):
            Incident.objects.select_for_update().get(pk=held.pk)
        read = access.lock_for_update(Incident.objects, pk=held.pk)
        locked = access.lock_for_update(Incident.objects, pk=open_incident.pk)
        with pytest.raises(Incident.DoesNotExist):
            access.lock_for_update(Incident.objects, pk=world["rule"].pk)

    assert read.acknowledged_by == other_staff
    assert locked.pk == open_incident.pk
