"""API views for alert rules, incidents and maintenance windows."""

from __future__ import annotations

import logging
from typing import Any

import django_filters
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from alerts_app import incidents
from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from alerts_app.serializers import (
    AlertRuleSerializer,
    IncidentSerializer,
    MaintenanceWindowSerializer,
    ResolveSerializer,
)
from integrations_app import audit
from monitor_project.api import AuditedMixin, MomentFilter, crud_schema, errors
from monitor_project.permissions import (
    AlertRulePermission,
    IncidentPermission,
    MaintenanceWindowPermission,
)
from monitor_project.roles import STAFF, role_of

logger = logging.getLogger(__name__)


class AlertRuleFilter(django_filters.FilterSet):
    class Meta:
        model = AlertRule
        fields = [
            "integration",
            "severity",
            "alert_type",
            "condition_metric",
            "is_active",
        ]


@extend_schema_view(**crud_schema(AlertRuleSerializer))
class AlertRuleViewSet(AuditedMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    permission_classes = [AlertRulePermission]
    serializer_class = AlertRuleSerializer
    filterset_class = AlertRuleFilter
    search_fields = ["rule_name", "rule_description"]
    ordering_fields = ["rule_name", "severity", "last_triggered", "created_at"]
    ordering = ["rule_name", "id"]
    queryset = AlertRule.objects.select_related("integration", "created_by")

    def creation_extras(self) -> dict[str, Any]:
        return {"created_by": self.request.user}


class IncidentFilter(django_filters.FilterSet):
    class Meta:
        model = Incident
        fields = ["status", "severity", "integration", "alert_rule"]


@extend_schema_view(
    **crud_schema(IncidentSerializer, "list", "retrieve", "update", "partial_update")
)
class IncidentViewSet(
    AuditedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Incidents open themselves; people acknowledge, resolve or describe them."""

    permission_classes = [IncidentPermission]
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    search_fields = ["alert_message"]
    ordering_fields = ["triggered_at", "severity", "status", "resolved_at"]
    ordering = ["-triggered_at", "id"]
    # The rule is not joined: row security hides rules from staff, and a join
    # would hide their incidents with them.
    queryset = Incident.objects.select_related(
        "integration", "acknowledged_by", "resolved_by"
    ).annotate(
        alert_rule_name=Subquery(
            AlertRule.objects.filter(pk=OuterRef("alert_rule_id")).values("rule_name")
        )
    )

    def _staff_may(self, incident: Incident, verb: str) -> None:
        """Refuse staff an incident that is neither open nor acknowledged by them."""
        user = self.request.user
        if role_of(user) != STAFF:
            return
        if incident.status == "open" or incident.acknowledged_by_id == user.pk:
            return
        if incident.status == "acknowledged" and verb == "acknowledge":
            return  # the lifecycle answers with who holds it
        holder = incident.acknowledged_by
        reason = f" It is acknowledged by {holder.get_username()}." if holder else ""
        raise PermissionDenied(
            f"Staff may {verb} only open incidents or those they acknowledged.{reason}"
        )

    def _lifecycle(self, verb: str, *args: Any) -> Response:
        """Run a lifecycle step; it locks the row and records the audit event."""
        incident = self.get_object()
        self._staff_may(incident, verb)
        try:
            changed = getattr(incidents, verb)(incident.pk, self.request.user, *args)
        except incidents.IncidentConflict as exc:
            return Response(
                {"detail": str(exc), "acknowledged_by": exc.by or None},
                status=status.HTTP_409_CONFLICT,
            )
        except incidents.InvalidTransition as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        fresh = self.get_queryset().get(pk=changed.pk)
        context = self.get_serializer_context()
        return Response(IncidentSerializer(fresh, context=context).data)

    @extend_schema(
        request=None,
        responses={200: IncidentSerializer, **errors(401, 403, 404, 409)},
        description=(
            "Acknowledge the incident. 409 when someone else already did, naming "
            "them in acknowledged_by."
        ),
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        return self._lifecycle("acknowledge")

    @extend_schema(
        request=ResolveSerializer,
        responses={
            200: IncidentSerializer,
            **errors(400, 401, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._lifecycle("resolve", body.validated_data["resolution_note"])

    @extend_schema(
        request=ResolveSerializer,
        responses={
            200: IncidentSerializer,
            **errors(400, 401, 403, 404, 409),
        },
        description="Silence the incident (managers).",
    )
    @action(detail=True, methods=["post"])
    def suppress(self, request: Request, pk: str | None = None) -> Response:
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._lifecycle("suppress", body.validated_data["resolution_note"])

    def get_serializer_class(self) -> Any:
        if self.action in {"resolve", "suppress"}:
            return ResolveSerializer
        return IncidentSerializer


class MaintenanceWindowFilter(django_filters.FilterSet):
    integration = django_filters.UUIDFilter(field_name="affected_integrations")
    starts_after = MomentFilter(field_name="scheduled_start", lookup_expr="gte")
    ends_before = MomentFilter(field_name="scheduled_end", lookup_expr="lte")

    class Meta:
        model = MaintenanceWindow
        fields = ["status", "maintenance_type", "requires_approval", "integration"]


@extend_schema_view(**crud_schema(MaintenanceWindowSerializer))
class MaintenanceWindowViewSet(AuditedMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    permission_classes = [MaintenanceWindowPermission]
    serializer_class = MaintenanceWindowSerializer
    filterset_class = MaintenanceWindowFilter
    search_fields = ["title", "description"]
    ordering_fields = ["scheduled_start", "scheduled_end", "created_at"]
    ordering = ["-scheduled_start", "id"]

    def get_queryset(self) -> QuerySet[MaintenanceWindow]:
        return (
            MaintenanceWindow.objects.select_related("approved_by", "created_by")
            .prefetch_related("affected_integrations")
            .distinct()
        )

    def creation_extras(self) -> dict[str, Any]:
        return {"created_by": self.request.user}

    def audit_details(self, serializer: Any) -> dict[str, Any]:
        sent = serializer.validated_data.get("affected_integrations")
        if sent is None:
            return {}
        return {"affected_integrations": sorted(str(i.pk) for i in sent)}

    @extend_schema(
        request=None,
        responses={
            200: MaintenanceWindowSerializer,
            **errors(401, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        window = self.get_object()
        with transaction.atomic():
            # Compare-and-swap: of two approvals at once, one finds it done.
            won = MaintenanceWindow.objects.filter(
                pk=window.pk,
                approved_at__isnull=True,
                status__in=["scheduled", "in_progress"],
            ).update(
                approved_by=request.user,
                approved_at=timezone.now(),
                updated_at=timezone.now(),
            )
            if won:
                audit.record(request.user, "approve", window)
        fresh = self.get_queryset().get(pk=window.pk)
        if not won:
            if fresh.approved_by is not None:
                who = fresh.approved_by.get_username()
                detail = f"Already approved by {who}."
            elif fresh.approved_at is not None:
                detail = "Already approved."
            else:
                detail = f"A {fresh.status} window cannot be approved."
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(fresh).data)
