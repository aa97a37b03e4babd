from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations_app"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"
