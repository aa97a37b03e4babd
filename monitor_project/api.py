"""What every API view shares: the audit trail of changes, time ranges, errors."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model, ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from integrations_app import audit
from monitor_project.sealing import SecretUnreadable

logger = logging.getLogger(__name__)

ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names each field."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="The role may not do this."),
    404: OpenApiResponse(description="No such object."),
    409: OpenApiResponse(description="The state does not allow it; says why."),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


def crud_schema(serializer: Any, *actions: str) -> dict[str, Any]:
    """Describe the answers of a viewset's standard actions, errors included."""
    every = {
        "list": {200: serializer(many=True), **errors(400, 401, 403)},
        "retrieve": {200: serializer, **errors(401, 403, 404)},
        "create": {201: serializer, **errors(400, 401, 403, 409)},
        "update": {200: serializer, **errors(400, 401, 403, 404, 409)},
        "partial_update": {200: serializer, **errors(400, 401, 403, 404, 409)},
        "destroy": {204: None, **errors(401, 403, 404, 409)},
    }
    chosen = actions or tuple(every)
    return {name: extend_schema(responses=every[name]) for name in chosen}


class ReadableFieldsOnce:
    """List a serializer's readable fields once, not again for every row of a page."""

    fields: Any

    @property
    def _readable_fields(self) -> list[Any]:
        cached: list[Any] | None = self.__dict__.get("_readable_once")
        if cached is None:
            cached = [field for field in self.fields.values() if not field.write_only]
            self.__dict__["_readable_once"] = cached
        return cached


class AuditedMixin:
    """Record an audit event, in the same transaction, for every write."""

    request: Any

    def creation_extras(self) -> dict[str, Any]:
        """Return values the server sets on a new row (who created it)."""
        return {}

    def audit_details(self, serializer: Any) -> dict[str, Any]:
        return dict(getattr(serializer, "audit_extras", {}))

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            obj = serializer.save(**self.creation_extras())
            details = {"changes": audit.diff(None, audit.snapshot(obj))}
            audit.record(
                self.request.user,
                "create",
                obj,
                details | self.audit_details(serializer),
            )

    def perform_update(self, serializer: Any) -> None:
        before = audit.snapshot(serializer.instance)
        with transaction.atomic():
            obj = serializer.save()
            details = {"changes": audit.diff(before, audit.snapshot(obj))}
            details |= self.audit_details(serializer)
            if any(details.values()):
                audit.record(self.request.user, "update", obj, details)

    def perform_destroy(self, instance: Model) -> None:
        with transaction.atomic():
            audit.record(
                self.request.user,
                "delete",
                instance,
                {"before": audit.diff(audit.snapshot(instance), None)},
            )
            instance.delete()


def _moment(raw: str, name: str, end_of_day: bool = False) -> datetime.datetime:
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        if day is None:
            raise serializers.ValidationError(
                {name: "Give an ISO 8601 date or date and time."}
            )
        parsed = datetime.datetime.combine(
            day, datetime.time.max if end_of_day else datetime.time.min
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, datetime.UTC)
    return parsed


def time_range(
    params: Any,
    *,
    default_span: datetime.timedelta | None = None,
    max_span: datetime.timedelta | None = None,
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """Read `since` and `until` from query parameters, each checked, in order."""
    raw_since, raw_until = params.get("since"), params.get("until")
    since = _moment(raw_since, "since") if raw_since else None
    until = _moment(raw_until, "until", end_of_day=True) if raw_until else None

    if since is not None and until is not None and until <= since:
        raise serializers.ValidationError({"until": "Must be later than since."})
    if default_span is not None and since is None:
        since = (until or timezone.now()) - default_span
    if max_span is not None:
        end = until or timezone.now()
        if since is None or end - since > max_span:
            raise serializers.ValidationError(
                {"since": f"The range may span at most {max_span.days} days."}
            )
    return since, until


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer conflicts the database detects with 409 instead of a server error."""
    if isinstance(exc, ProtectedError | RestrictedError):
        return Response(
            {"detail": "Other records still refer to this one; deactivate it instead."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, IntegrityError):
        logger.warning("write refused by a database constraint: %s", exc.__cause__)
        return Response(
            {"detail": "The change conflicts with stored data; reload and retry."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, SecretUnreadable):
        logger.error("stored secret unreadable: %s", exc)
        return Response(
            {"detail": "Stored credentials cannot be decrypted; send them again."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
