"""Add the escalation limit to the system configuration."""

from django.db import migrations

KEY = "max_escalation_level"


def add(apps, schema_editor):
    SystemConfig = apps.get_model("integrations_app", "SystemConfig")
    SystemConfig.objects.get_or_create(
        config_key=KEY,
        defaults={
            "config_value": 3,
            "description": "How many times an unacknowledged incident escalates",
        },
    )


def remove(apps, schema_editor):
    SystemConfig = apps.get_model("integrations_app", "SystemConfig")
    SystemConfig.objects.filter(config_key=KEY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts_app", "0003_condition_state_quota_and_causes"),
        ("integrations_app", "0003_defaults"),
    ]

    operations = [migrations.RunPython(add, remove)]
