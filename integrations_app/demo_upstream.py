"""Fake third-party services on loopback, so the demo shows real changes offline."""

from __future__ import annotations

import datetime
import json
import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# A port nothing listens on: the demo's "connection refused" service.
CLOSED_PORT = 1

# How each behaviour answers: steady, slow, flapping and so on.
MODES = (
    "ok",
    "slow",
    "flapping",
    "error",
    "timeout",
    "rate_limited",
    "jittery",
    "intermittent",
    "maintenance",
    "degrading",
)


@dataclass(frozen=True)
class DemoService:
    name: str
    display_name: str
    mode: str
    service_type: str = "api"
    tls: bool = False
    refused: bool = False
    timeout_seconds: int = 5
    is_critical: bool = False
    expected_content: str | None = None


CATALOGUE = (
    DemoService("demo_payments", "Payments API", "ok", "payment", is_critical=True),
    DemoService("demo_sms", "SMS Gateway", "ok", "messaging"),
    DemoService("demo_search", "Search", "slow", timeout_seconds=10),
    DemoService("demo_inventory", "Inventory", "flapping", is_critical=True),
    DemoService("demo_storage", "Object Storage", "error", "storage"),
    DemoService("demo_queue", "Job Queue", "timeout", "messaging", timeout_seconds=3),
    DemoService("demo_auth", "Identity Provider", "ok", "auth", tls=True),
    DemoService("demo_geo", "Geocoding", "rate_limited"),
    DemoService("demo_email", "Email Relay", "jittery", "messaging"),
    DemoService("demo_analytics", "Analytics", "intermittent"),
    DemoService(
        "demo_cdn", "CDN Purge", "maintenance", "infrastructure", expected_content="ok"
    ),
    DemoService("demo_ledger", "Ledger", "ok", "database", refused=True),
    DemoService("demo_billing", "Billing", "degrading", "payment"),
)

FLAP_SECONDS = 150
SLOW_SECONDS = 5.5
TIMEOUT_SECONDS = 30.0
CERT_DAYS_LEFT = 6


def answer(mode: str, started: float) -> tuple[int, float, dict[str, Any]]:
    """Return the status, delay and body a service in this mode gives now."""
    now = time.time()
    if mode == "slow":
        return 200, SLOW_SECONDS, {"status": "ok"}
    if mode == "flapping":
        up = int(now // FLAP_SECONDS) % 2 == 0
        return (200, 0.05, {"status": "ok"}) if up else (503, 0.05, {"status": "down"})
    if mode == "error":
        return 500, 0.02, {"error": "internal server error"}
    if mode == "timeout":
        return 200, TIMEOUT_SECONDS, {"status": "ok"}
    if mode == "rate_limited":
        return 429, 0.02, {"error": "too many requests"}
    if mode == "jittery":
        return 200, random.uniform(0.05, 0.9), {"status": "ok"}  # noqa: S311
    if mode == "intermittent":
        if random.random() < 0.3:  # noqa: S311
            return 503, 0.05, {"error": "service unavailable"}
        return 200, 0.08, {"status": "ok"}
    if mode == "maintenance":
        return 200, 0.03, {"status": "maintenance"}
    if mode == "degrading":
        # A tenth of a second slower for every minute the demo has run.
        return 200, min((now - started) / 600, 8.0), {"status": "ok"}
    return 200, 0.03, {"status": "ok"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        upstream = self.server.upstream
        name = self.path.strip("/").split("/", 1)[0].split("?", 1)[0]
        mode = upstream.modes.get(name)
        if mode is None:
            self._send(404, {"error": "no such service"})
            return
        upstream.hits[name] = upstream.hits.get(name, 0) + 1
        status, delay, body = answer(mode, upstream.started)
        # Waiting on the event lets a shutdown end a "timing out" answer.
        if delay and upstream.stopping.wait(delay):
            return
        self._send(status, body)

    do_POST = do_GET
    do_HEAD = do_GET

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            pass  # the checker gave up first: that is what a timeout looks like

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: Upstream


class Upstream:
    """Serve services by name at /<name>/...; their modes may change at any time."""

    def __init__(
        self,
        modes: dict[str, str],
        *,
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.modes = dict(modes)
        self.hits: dict[str, int] = {}
        self.started = time.time()
        self.stopping = threading.Event()
        self.server = _Server((HOST, port), _Handler)
        self.server.upstream = self
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(
                self.server.socket, server_side=True
            )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{HOST}:{self.port}"

    def set_mode(self, name: str, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.modes[name] = mode

    def start(self) -> Upstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def expiring_tls(bundle: Path) -> ssl.SSLContext:
    """Make a certificate that expires soon, and a CA bundle that trusts it."""
    import certifi
    import trustme

    ca = trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    leaf = ca.issue_cert(
        HOST, "localhost", not_after=now + datetime.timedelta(days=CERT_DAYS_LEFT)
    )
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca.cert_pem.bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context
