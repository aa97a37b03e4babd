"""Views that trust the database alone: no permission class stands in the way."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from alerts_app.models import AlertRule, Incident
from integrations_app.models import Integration, SystemConfig
from tests.access.tasks import count_alert_rules

COUNTED = {
    "integrations": Integration,
    "alert_rules": AlertRule,
    "incidents": Incident,
    "system_config": SystemConfig,
}
SEEN_ON_COMMIT: list[dict[str, Any]] = []


def census() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('app.role', true), "
            "current_setting('app.user_id', true), pg_backend_pid()"
        )
        role, user_id, pid = cursor.fetchone()
    counts = {name: model._default_manager.count() for name, model in COUNTED.items()}
    return {"role": role or "", "user_id": user_id or "", "pid": pid, **counts}


@api_view(["GET"])
@permission_classes([AllowAny])
def api_census(request: Request) -> Response:
    return Response(census())


def session_census(request: HttpRequest) -> JsonResponse:
    return JsonResponse(census())


@api_view(["POST"])
@permission_classes([AllowAny])
def census_on_commit(request: Request) -> Response:
    transaction.on_commit(lambda: SEEN_ON_COMMIT.append(census()))
    return Response({})


def failing_write(request: HttpRequest) -> JsonResponse:
    SystemConfig.objects.create(config_key="half_written", config_value=1)
    raise RuntimeError("the view failed after writing")


@api_view(["GET"])
@permission_classes([AllowAny])
def task_census(request: Request) -> Response:
    return Response({**census(), "by_task": count_alert_rules.apply().get()})


def census_free(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("census-free/", census_free),
    path("census/", api_census),
    path("session-census/", session_census),
    path("census-on-commit/", census_on_commit),
    path("failing-write/", failing_write),
    path("task-census/", task_census),
]
