from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from monitor_project import access


class Command(migrate.Command):
    """Migrate as the owner of the tables: the application role changes no schema."""

    def handle(self, *args: Any, **options: Any) -> None:
        with access.as_owner(options["database"]):
            super().handle(*args, **options)
