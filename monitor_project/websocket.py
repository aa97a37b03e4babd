"""Origin check and authentication for WebSocket connections."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host


def origin_allowed(origin: str | None) -> bool:
    """Accept no Origin (non-browser clients) or one matching our hosts."""
    if not origin:
        return True
    if origin in settings.WEBSOCKET_ALLOWED_ORIGINS:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if not host:
        return False
    if ":" in host:
        host = f"[{host}]"  # ALLOWED_HOSTS spells IPv6 addresses in brackets
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return validate_host(host, allowed)


# DRF's keys are 40 hex digits; anything else is refused before a query
# (PostgreSQL would reject a NUL byte with an error, not an empty result).
_TOKEN_SHAPE = re.compile(r"[0-9A-Za-z]{1,40}")


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    if not _TOKEN_SHAPE.fullmatch(key):
        return AnonymousUser()
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


class TokenAuthMiddleware(AuthMiddleware):
    """Take the user from ?token=<key> when given, else from the session."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        query = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
        keys = query.get("token")
        if keys:
            scope["user"]._wrapped = await _user_for_token(keys[0])
            scope["auth_token"] = keys[0]
            return
        await super().resolve_scope(scope)


class WebSocketGuard:
    """Refuse foreign origins, then authenticate by token or session cookie."""

    def __init__(self, inner: Any) -> None:
        self.inner = CookieMiddleware(SessionMiddleware(TokenAuthMiddleware(inner)))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode(errors="replace") or None
        if scope["type"] == "websocket" and not origin_allowed(origin):
            await receive()  # the handshake's websocket.connect
            # Accepted only to be closed, so the client learns why from the code.
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.inner(scope, receive, send)
