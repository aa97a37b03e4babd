"""Re-encrypt every stored secret under the newest key in FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from monitor_project.sealing import SealedJSONField, SecretUnreadable

logger = logging.getLogger(__name__)


def sealed_fields() -> list[tuple[Any, list[str]]]:
    found = []
    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, SealedJSONField)
        ]
        if names:
            found.append((model, names))
    return found


def rotate_all() -> int:
    """Re-encrypt secrets not under the newest key; return how many rows changed."""
    changed = 0
    for model, names in sealed_fields():
        with transaction.atomic():
            rows = model._default_manager.select_for_update().only("pk", *names)
            for row in rows.iterator(chunk_size=500):
                updates = []
                for name in names:
                    value = getattr(row, name)
                    if value and not value.is_current():
                        setattr(row, name, value.rotated())
                        updates.append(name)
                if updates:
                    row.save(update_fields=updates)
                    changed += 1
    return changed


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret under the newest key and report how many rows changed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            changed = rotate_all()
        except SecretUnreadable as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.monotonic() - started
        logger.info("rotate_secrets re-encrypted %d rows in %.2fs", changed, elapsed)
        self.stdout.write(f"{changed} rows re-encrypted under the newest key")
