"""Load the default system configuration, the example integrations and the roles."""

from django.db import migrations

CONFIG = [
    ("default_health_check_interval", 5, "Default health check interval in minutes"),
    ("default_timeout_seconds", 30, "Default timeout for health checks in seconds"),
    (
        "max_consecutive_failures",
        3,
        "Maximum consecutive failures before marking as critical",
    ),
    ("alert_cooldown_minutes", 15, "Default cooldown period between alerts"),
    ("metrics_retention_days", 90, "Number of days to retain detailed metrics"),
    (
        "health_check_retention_days",
        30,
        "Number of days to retain health check history",
    ),
    (
        "enable_auto_recovery_detection",
        True,
        "Automatically detect when services recover",
    ),
    ("business_hours_start", "08:00", "Default business hours start time"),
    ("business_hours_end", "18:00", "Default business hours end time"),
    ("notification_rate_limit", 5, "Maximum notifications per integration per hour"),
]

INTEGRATIONS = [
    (
        "google_calendar",
        "Google Calendar",
        "Google Calendar API for scheduling",
        "api",
        "https://www.googleapis.com/calendar/v3",
        "/calendar/v3/users/me/calendarList",
        "oauth",
        True,
    ),
    (
        "supabase_db",
        "Supabase Database",
        "Primary application database",
        "database",
        "https://pfqtzmxxxhhsxmlddrta.supabase.co",
        "/rest/v1/",
        "bearer",
        True,
    ),
    (
        "stripe_payments",
        "Stripe Payments",
        "Payment processing service",
        "api",
        "https://api.stripe.com",
        "/v1/account",
        "bearer",
        True,
    ),
    (
        "twilio_sms",
        "Twilio SMS",
        "SMS and communication service",
        "messaging",
        "https://api.twilio.com",
        "/2010-04-01/Accounts",
        "basic",
        False,
    ),
    (
        "cloudflare_cdn",
        "Cloudflare CDN",
        "Content delivery and DNS",
        "infrastructure",
        "https://api.cloudflare.com",
        "/client/v4/user",
        "bearer",
        True,
    ),
]

ROLES = ["staff", "manager", "superadmin"]


def load(apps, schema_editor):
    SystemConfig = apps.get_model("integrations_app", "SystemConfig")
    Integration = apps.get_model("integrations_app", "Integration")
    Group = apps.get_model("auth", "Group")

    for key, value, description in CONFIG:
        SystemConfig.objects.get_or_create(
            config_key=key, defaults={"config_value": value, "description": description}
        )
    for (
        name,
        display,
        description,
        kind,
        base,
        endpoint,
        auth,
        critical,
    ) in INTEGRATIONS:
        Integration.objects.get_or_create(
            name=name,
            defaults={
                "display_name": display,
                "description": description,
                "service_type": kind,
                "base_url": base,
                "health_check_endpoint": endpoint,
                "auth_type": auth,
                "is_critical": critical,
            },
        )
    for role in ROLES:
        Group.objects.get_or_create(name=role)


def unload(apps, schema_editor):
    apps.get_model("integrations_app", "SystemConfig").objects.filter(
        config_key__in=[key for key, _, _ in CONFIG]
    ).delete()
    apps.get_model("integrations_app", "Integration").objects.filter(
        name__in=[row[0] for row in INTEGRATIONS]
    ).delete()
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("integrations_app", "0002_engine_columns_and_audit"),
    ]

    operations = [migrations.RunPython(load, unload)]
