from __future__ import annotations

from typing import Any

from django.core.management.commands import flush

from monitor_project import access


class Command(flush.Command):
    """Flush as the owner of the tables: the application role may not truncate."""

    def handle(self, **options: Any) -> None:
        with access.as_owner(options["database"]):
            super().handle(**options)
