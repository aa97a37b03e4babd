from __future__ import annotations

from django.urls import path

from integrations_app.consumers import StatusConsumer

websocket_urlpatterns = [
    path("ws/status/", StatusConsumer.as_asgi()),
]
