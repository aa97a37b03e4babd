"""Roll up the last N hours of checks again, after an outage of the scheduler."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from metrics_app.aggregation import HOUR, aggregate_hours, hour_start
from metrics_app.locks import advisory_lock

# The raw checks go after health_check_retention_days; a longer span finds none.
MAX_HOURS = 24 * 366


class Command(BaseCommand):
    help = "Roll up the health checks of the last N hours (default 2) into hourly rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=2)

    def handle(self, *args: Any, hours: int, **options: Any) -> None:
        if not 1 <= hours <= MAX_HOURS:
            raise CommandError(f"--hours must be between 1 and {MAX_HOURS}")

        end = hour_start(timezone.now()) + HOUR
        with advisory_lock("metrics.aggregate") as acquired:
            if not acquired:
                raise CommandError("an aggregation run is in progress; try again")
            rollup = aggregate_hours(end - hours * HOUR, end)

        self.stdout.write(
            f"{rollup.start:%Y-%m-%d %H:00} to {rollup.end:%Y-%m-%d %H:00} UTC: "
            f"{rollup.inserted} rows inserted, {rollup.updated} updated "
            f"in {rollup.seconds:.2f}s"
        )
