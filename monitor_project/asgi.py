"""The ASGI application: Django over HTTP, Channels consumers over WebSocket."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: the consumers touch models.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from integrations_app.routing import websocket_urlpatterns  # noqa: E402
from monitor_project.websocket import WebSocketGuard  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketGuard(URLRouter(websocket_urlpatterns)),
    }
)
