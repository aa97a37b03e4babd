from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access_app"
    verbose_name = "Database access"

    def ready(self) -> None:
        # Connects the receivers that give every connection its role.
        from monitor_project import access  # noqa: F401
