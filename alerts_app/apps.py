from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts_app"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"
