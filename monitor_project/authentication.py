"""DRF authentication that hands the authenticated user to the database policies."""

from __future__ import annotations

from typing import Any

import drf_spectacular.authentication
from rest_framework import authentication
from rest_framework.request import Request

from monitor_project import access


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            access.adopt(request, result[0])
        return result


class SessionAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            access.adopt(request, result[0])
        return result


class SessionScheme(drf_spectacular.authentication.SessionScheme):
    """Describe the session authentication above in the OpenAPI document."""

    target_class = "monitor_project.authentication.SessionAuthentication"
