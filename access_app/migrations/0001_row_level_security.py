"""Row-level security on the requirements' tables, enforced for the application role.

The policies read the role and user of whoever asks from the transaction's
settings `app.role` and `app.user_id` (see monitor_project/access.py); an
unset role matches no policy, so a connection nobody vouched for sees nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations

READERS = ("staff", "manager", "superadmin", "system")
MANAGERS = ("manager", "superadmin", "system")
SUPERADMINS = ("superadmin", "system")
SYSTEM = ("system",)

# Scalar subqueries, so that each is read once per query and not once per row.
ME = "(SELECT nullif(current_setting('app.user_id', true), '')::integer)"

# (table, policy, command, roles, extra USING, extra WITH CHECK)
POLICIES = [
    ("integrations", "integrations_read", "SELECT", READERS, None, None),
    ("integrations", "integrations_manage", "ALL", MANAGERS, None, None),
    # Checks, metrics and baselines are the system's record; managers may
    # only delete them along with the integration they belong to, and
    # superadmins unlink a deleted user from the checks they triggered.
    ("integration_health_checks", "health_checks_read", "SELECT", READERS, None, None),
    (
        "integration_health_checks",
        "health_checks_prune",
        "DELETE",
        MANAGERS,
        None,
        None,
    ),
    (
        "integration_health_checks",
        "health_checks_unlink",
        "UPDATE",
        SUPERADMINS,
        None,
        None,
    ),
    ("integration_health_checks", "health_checks_write", "ALL", SYSTEM, None, None),
    ("integration_metrics", "metrics_read", "SELECT", READERS, None, None),
    ("integration_metrics", "metrics_prune", "DELETE", MANAGERS, None, None),
    ("integration_metrics", "metrics_write", "ALL", SYSTEM, None, None),
    ("integration_baselines", "baselines_read", "SELECT", READERS, None, None),
    ("integration_baselines", "baselines_prune", "DELETE", MANAGERS, None, None),
    ("integration_baselines", "baselines_write", "ALL", SYSTEM, None, None),
    ("integration_dependencies", "dependencies_read", "SELECT", READERS, None, None),
    ("integration_dependencies", "dependencies_manage", "ALL", MANAGERS, None, None),
    ("alert_rules", "alert_rules_manage", "ALL", MANAGERS, None, None),
    ("alert_incidents", "incidents_read", "SELECT", READERS, None, None),
    ("alert_incidents", "incidents_manage", "ALL", MANAGERS, None, None),
    # Staff act on an incident while it is open or acknowledged by themselves,
    # and cannot hand the acknowledgement to someone else.
    (
        "alert_incidents",
        "incidents_staff_update",
        "UPDATE",
        ("staff",),
        f"status = 'open' OR (status = 'acknowledged' AND acknowledged_by_id = {ME})",
        f"acknowledged_by_id IS NULL OR acknowledged_by_id = {ME}",
    ),
    ("maintenance_windows", "maintenance_read", "SELECT", READERS, None, None),
    ("maintenance_windows", "maintenance_manage", "ALL", MANAGERS, None, None),
    (
        "maintenance_window_integrations",
        "maintenance_integrations_read",
        "SELECT",
        READERS,
        None,
        None,
    ),
    (
        "maintenance_window_integrations",
        "maintenance_integrations_manage",
        "ALL",
        MANAGERS,
        None,
        None,
    ),
    ("integration_system_config", "system_config_read", "SELECT", MANAGERS, None, None),
    (
        "integration_system_config",
        "system_config_manage",
        "ALL",
        SUPERADMINS,
        None,
        None,
    ),
]

TABLES = sorted({table for table, *_ in POLICIES})


def _role_test(roles: tuple[str, ...]) -> str:
    names = ", ".join(f"'{role}'" for role in roles)
    return f"(SELECT current_setting('app.role', true)) IN ({names})"


def _policy_sql(
    table: str,
    name: str,
    command: str,
    roles: tuple[str, ...],
    using: str | None,
    check: str | None,
) -> str:
    sql = f"CREATE POLICY {name} ON {table} AS PERMISSIVE FOR {command}"
    role_test = _role_test(roles)
    if command != "INSERT":
        sql += f" USING ({role_test}" + (f" AND ({using})" if using else "") + ")"
    if command in {"INSERT", "UPDATE", "ALL"}:
        sql += f" WITH CHECK ({role_test}" + (f" AND ({check})" if check else "") + ")"
    return sql


def _names(schema_editor: object) -> tuple[str, str, str]:
    role = settings.DATABASE_APP_ROLE
    quote = schema_editor.quote_name  # type: ignore[attr-defined]
    with schema_editor.connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
    return role, quote(role), quote(schema)


def enable(apps: object, schema_editor: object) -> None:
    role, quoted_role, schema = _names(schema_editor)
    execute = schema_editor.execute  # type: ignore[attr-defined]

    # A role that skips policies would make every one of them void. The
    # names come from a validated setting and this module's constants.
    execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {quoted_role} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
            IF EXISTS (
                SELECT 1 FROM pg_roles
                WHERE rolname = '{role}' AND (rolsuper OR rolbypassrls)
            ) THEN
                RAISE EXCEPTION 'role {role} must not be superuser nor bypass RLS';
            END IF;
            IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                EXECUTE 'GRANT ' || quote_ident('{role}')
                    || ' TO ' || quote_ident(current_user);
            END IF;
        END
        $$
        """  # noqa: S608
    )
    execute(f"GRANT USAGE ON SCHEMA {schema} TO {quoted_role}")
    execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
        f"TO {quoted_role}"
    )
    execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted_role}")
    # Tables that later migrations create need the same rights.
    execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted_role}"
    )
    execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {quoted_role}"
    )

    for table in TABLES:
        execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for policy in POLICIES:
        execute(_policy_sql(*policy))


def disable(apps: object, schema_editor: object) -> None:
    _, quoted_role, schema = _names(schema_editor)
    execute = schema_editor.execute  # type: ignore[attr-defined]

    for table, name, *_ in POLICIES:
        execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    for table in TABLES:
        execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {quoted_role}"
    )
    execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "  # noqa: S608
        f"REVOKE USAGE, SELECT ON SEQUENCES FROM {quoted_role}"
    )
    execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted_role}")
    execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {quoted_role}")
    execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {quoted_role}")
    # The role itself stays: it is cluster-wide and may serve other databases.


class Migration(migrations.Migration):
    dependencies = [
        ("integrations_app", "0003_defaults"),
        ("metrics_app", "0004_uptime_window_index"),
        ("alerts_app", "0003_condition_state_quota_and_causes"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("sessions", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [migrations.RunPython(enable, disable)]
