from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import requests

from alerts_app.models import AlertRule
from integrations_app.demo_upstream import (
    CATALOGUE,
    CERT_DAYS_LEFT,
    MODES,
    Upstream,
    answer,
    expiring_tls,
)
from integrations_app.management.commands.demo_upstream import RULES, set_up
from integrations_app.models import Integration


@pytest.mark.parametrize(
    ("mode", "statuses"),
    [
        ("ok", {200}),
        ("error", {500}),
        ("rate_limited", {429}),
        ("maintenance", {200}),
        ("flapping", {200, 503}),
        ("intermittent", {200, 503}),
        ("slow", {200}),
        ("timeout", {200}),
    ],
)
def test_each_mode_answers_as_its_name_says(mode: str, statuses: set[int]) -> None:
    status, delay, _ = answer(mode, started=0.0)
    assert status in statuses
    if mode == "slow":
        assert 5 < delay < 10
    if mode == "timeout":
        assert delay >= 30


def test_the_simulator_serves_services_by_name_and_changes_mode_at_once() -> None:
    upstream = Upstream({"pay": "ok"}).start()
    try:
        first = requests.get(f"{upstream.url()}/pay/health", timeout=5)
        upstream.set_mode("pay", "error")
        second = requests.get(f"{upstream.url()}/pay/health", timeout=5)
        unknown = requests.get(f"{upstream.url()}/nothing/health", timeout=5)
    finally:
        upstream.stop()
    assert (first.status_code, second.status_code, unknown.status_code) == (
        200,
        500,
        404,
    )
    assert upstream.hits == {"pay": 2}
    with pytest.raises(ValueError, match="unknown mode"):
        upstream.set_mode("pay", "explode")


def test_the_demo_certificate_is_trusted_by_its_bundle_and_expires_soon(
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "ca.pem"
    upstream = Upstream({"auth": "ok"}, tls_context=expiring_tls(bundle)).start()
    try:
        context = ssl.create_default_context(cafile=str(bundle))
        with (
            socket.create_connection(("127.0.0.1", upstream.port), 5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            not_after = tls.getpeercert()["notAfter"]
    finally:
        upstream.stop()
    expires = datetime.datetime.fromtimestamp(
        ssl.cert_time_to_seconds(not_after), tz=datetime.UTC
    )
    left = expires - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=CERT_DAYS_LEFT - 1) < left
    assert left < datetime.timedelta(days=14)


@pytest.mark.django_db
def test_demo_set_up_is_idempotent_and_points_at_the_simulator(settings: Any) -> None:
    set_up("http://127.0.0.1:8900", "https://127.0.0.1:8901")
    set_up("http://127.0.0.1:8900", "https://127.0.0.1:8901")

    demo = Integration.objects.filter(name__startswith="demo_")
    assert demo.count() == len(CATALOGUE) >= 12
    assert AlertRule.objects.filter(integration__in=demo).count() == len(RULES)
    assert {i.base_url for i in demo} == {
        "http://127.0.0.1:8900",
        "https://127.0.0.1:8901",
        "http://127.0.0.1:1",
    }
    assert {s.mode for s in CATALOGUE} <= set(MODES)
    assert all(i.health_check_interval_minutes == 1 for i in demo)
