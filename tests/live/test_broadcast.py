from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from channels.layers import channel_layers
from django.db import transaction

from integrations_app import live
from integrations_app.models import Integration
from integrations_app.signals import announce, status_changed


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _point_layer_at(settings: Any, address: str) -> None:
    config = dict(settings.CHANNEL_LAYERS["default"])
    host = dict(config["CONFIG"]["hosts"][0], address=address)
    config["CONFIG"] = dict(config["CONFIG"], hosts=[host])
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()


@pytest.fixture
def redis_down(settings: Any) -> Any:
    working = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"]
    _point_layer_at(settings, f"redis://127.0.0.1:{_closed_port()}/0")
    yield lambda: _point_layer_at(settings, working)
    live._failing.clear()


def test_a_lost_channel_layer_is_logged_once_and_its_return_once(
    redis_down: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="integrations_app.live"):
        sent = [live.broadcast("status_change", {"n": n}) for n in range(5)]
        redis_down()
        sent += [live.broadcast("status_change", {"n": n}) for n in range(5, 8)]

    assert sent == [False] * 5 + [True] * 3
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("live updates paused, channel layer unreachable")
    assert messages[1] == "live updates resumed"


@pytest.mark.django_db
def test_a_status_change_commits_although_redis_is_down(
    redis_down: Any, django_capture_on_commit_callbacks: Any
) -> None:
    integration = Integration.objects.create(
        name="stripe", display_name="Stripe", service_type="api", auth_type="none"
    )

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(
            current_health_status="critical"
        )
        announce(
            status_changed,
            Integration,
            integration_id=integration.pk,
            display_name="Stripe",
            health_status="critical",
            previous_status="unknown",
            changed_at=None,
        )

    integration.refresh_from_db()
    assert integration.current_health_status == "critical"
    assert live._failing.is_set()
