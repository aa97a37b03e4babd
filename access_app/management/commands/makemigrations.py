from __future__ import annotations

from typing import Any

from django.core.management.commands import makemigrations

from monitor_project import access


class Command(makemigrations.Command):
    """Read the migration history as the owner of the tables, as migrate does."""

    def handle(self, *app_labels: Any, **options: Any) -> None:
        with access.as_owner():
            super().handle(*app_labels, **options)
