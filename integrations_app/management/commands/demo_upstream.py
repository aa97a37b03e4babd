"""Serve the demo's fake services and point demo integrations and rules at them."""

from __future__ import annotations

import logging
import signal
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from alerts_app.models import AlertRule
from integrations_app.demo_upstream import (
    CATALOGUE,
    CLOSED_PORT,
    HOST,
    DemoService,
    Upstream,
    expiring_tls,
)
from integrations_app.models import Integration

logger = logging.getLogger(__name__)

# (service, rule name, metric, operator, threshold, minutes, severity)
RULES = [
    ("demo_storage", "Object Storage down", "health_status", ">=", 2, 0, "critical"),
    (
        "demo_queue",
        "Job Queue not answering",
        "consecutive_failures",
        ">=",
        2,
        0,
        "urgent",
    ),
    ("demo_inventory", "Inventory degraded", "health_status", ">=", 1, 0, "warning"),
    ("demo_search", "Search slow", "response_time", ">", 4000, 0, "warning"),
    ("demo_auth", "Identity Provider certificate", "health_status", ">=", 1, 0, "info"),
    ("demo_payments", "Payments API down", "health_status", ">=", 2, 0, "urgent"),
]


class Command(BaseCommand):
    help = "Serve a dozen fake third-party services on loopback for the demo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--tls-port", type=int, default=8901)
        parser.add_argument(
            "--ca-bundle",
            default=str(settings.BASE_DIR / "var" / "demo" / "ca-bundle.pem"),
            help="Where to write a CA bundle that trusts the demo certificate.",
        )
        parser.add_argument(
            "--no-setup",
            action="store_true",
            help="Serve only; leave integrations and alert rules alone.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        modes = {service.name: service.mode for service in CATALOGUE}
        plain = Upstream(modes, port=options["port"])
        tls = Upstream(
            modes,
            port=options["tls_port"],
            tls_context=expiring_tls(Path(options["ca_bundle"])),
        )
        if not options["no_setup"]:
            count = set_up(plain.url("http"), tls.url("https"))
            self.stdout.write(f"demo: {count} integrations point at the simulator")

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        plain.start()
        tls.start()
        self.stdout.write(
            f"demo upstream serving {len(modes)} services on {plain.url()} "
            f"and {tls.url('https')}",
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            plain.stop()
            tls.stop()


def _base_url(service: DemoService, plain: str, tls: str) -> str:
    if service.refused:
        return f"http://{HOST}:{CLOSED_PORT}"
    return tls if service.tls else plain


@transaction.atomic
def set_up(plain: str, tls: str) -> int:
    """Create or update the demo integrations and alert rules; answer how many."""
    now = timezone.now()
    by_name: dict[str, Integration] = {}
    for service in CATALOGUE:
        integration, _ = Integration.objects.update_or_create(
            name=service.name,
            defaults={
                "display_name": service.display_name,
                "description": f"Demo service that is {service.mode.replace('_', ' ')}",
                "service_type": service.service_type,
                "category": "external",
                "base_url": _base_url(service, plain, tls),
                "health_check_endpoint": f"/{service.name}/health",
                "auth_type": "none",
                "is_active": True,
                "monitoring_enabled": True,
                "is_critical": service.is_critical,
                "health_check_interval_minutes": 1,
                "timeout_seconds": service.timeout_seconds,
                "expected_response_content": service.expected_content,
                "environment": "development",
                "responsible_team": "demo",
                "next_check_at": now,
            },
        )
        by_name[service.name] = integration

    for name, rule_name, metric, operator, threshold, minutes, severity in RULES:
        AlertRule.objects.update_or_create(
            integration=by_name[name],
            rule_name=rule_name,
            defaults={
                "alert_type": "availability"
                if metric != "response_time"
                else "performance",
                "condition_metric": metric,
                "condition_operator": operator,
                "condition_threshold": Decimal(threshold),
                "condition_duration_minutes": minutes,
                "severity": severity,
                "auto_resolve": True,
                "cooldown_minutes": 1,
                "notification_channels": ["email"],
                "notification_recipients": ["oncall@example.com"],
                "business_hours_only": False,
                "is_active": True,
            },
        )
    return len(by_name)
