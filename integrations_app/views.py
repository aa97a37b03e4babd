"""API views for integrations, their checks and metrics, and the rows around them."""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import django_filters
from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts_app.models import Incident
from integrations_app import audit
from integrations_app.checks import run_manual_check
from integrations_app.models import (
    AuditEvent,
    Dependency,
    HealthCheck,
    HealthStatus,
    Integration,
    SystemConfig,
)
from integrations_app.serializers import (
    UNRESOLVED,
    AuditEventSerializer,
    DashboardSerializer,
    DependencySerializer,
    HealthCheckDetailSerializer,
    HealthCheckSerializer,
    IntegrationSerializer,
    ManualCheckResultSerializer,
    SystemConfigSerializer,
    UptimeSerializer,
)
from metrics_app.models import Metric
from metrics_app.serializers import MetricSerializer
from metrics_app.uptime import uptime_summary
from monitor_project.api import AuditedMixin, crud_schema, errors, time_range
from monitor_project.pagination import PageNumberPagination
from monitor_project.permissions import (
    AuditLogPermission,
    DashboardPermission,
    DependencyPermission,
    IntegrationPermission,
    ReadOnlyPermission,
    SystemConfigPermission,
)

logger = logging.getLogger(__name__)

# Worst first: the order a person on call reads the list in.
STATUS_RANK = Case(
    When(current_health_status="critical", then=Value(0)),
    When(current_health_status="warning", then=Value(1)),
    When(current_health_status="unknown", then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)
METRICS_MAX_SPAN = datetime.timedelta(days=92)
METRICS_DEFAULT_SPAN = datetime.timedelta(days=7)
WINDOWS = ("24h", "7d", "30d")
DASHBOARD_CACHE_KEY = "api:dashboard"
DASHBOARD_CACHE_SECONDS = 15


def open_incidents_count() -> Coalesce:
    counted = (
        Incident.objects.filter(integration=OuterRef("pk"), status__in=UNRESOLVED)
        .order_by()
        .values("integration")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def attach_recent_metrics(integrations: Iterable[Integration]) -> None:
    """Give each integration its newest hourly row in one query for all of them."""
    rows = list(integrations)
    newest = Metric.objects.filter(integration=OuterRef("pk")).order_by(
        "-metric_date", "-metric_hour"
    )
    ids = Integration.objects.filter(pk__in=[i.pk for i in rows]).annotate(
        newest=Subquery(newest.values("pk")[:1])
    )
    by_owner = {
        m.integration_id: m
        for m in Metric.objects.filter(pk__in=Subquery(ids.values("newest")))
    }
    for integration in rows:
        integration.recent_metric = by_owner.get(integration.pk)  # type: ignore[attr-defined]


# Strict: 'maybe' is an error, not a filter silently dropped.
BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


class IntegrationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[*HealthStatus.choices, ("all", "all")],
        method="filter_status",
        help_text="Current health status; 'all' for any.",
    )
    is_critical = django_filters.TypedChoiceFilter(
        choices=BOOLEAN_CHOICES, coerce=lambda v: v == "true"
    )
    is_active = django_filters.TypedChoiceFilter(
        choices=BOOLEAN_CHOICES, coerce=lambda v: v == "true"
    )

    class Meta:
        model = Integration
        fields = [
            "status",
            "category",
            "service_type",
            "is_critical",
            "is_active",
            "environment",
        ]

    def filter_status(
        self, queryset: QuerySet[Integration], name: str, value: str
    ) -> QuerySet[Integration]:
        if value == "all":
            return queryset
        return queryset.filter(current_health_status=value)


since_until = [
    OpenApiParameter(
        "since", OpenApiTypes.DATETIME, description="ISO 8601, inclusive."
    ),
    OpenApiParameter(
        "until", OpenApiTypes.DATETIME, description="ISO 8601, inclusive."
    ),
]


@extend_schema_view(**crud_schema(IntegrationSerializer))
class IntegrationViewSet(AuditedMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    permission_classes = [IntegrationPermission]
    serializer_class = IntegrationSerializer
    filterset_class = IntegrationFilter
    search_fields = ["display_name", "description"]
    ordering_fields = [
        "display_name",
        "name",
        "created_at",
        "last_health_check",
        "consecutive_failures",
        "status_rank",
        "is_critical",
    ]
    ordering = ["-is_critical", "status_rank", "display_name", "id"]

    def get_queryset(self) -> QuerySet[Integration]:
        return Integration.objects.annotate(
            status_rank=STATUS_RANK, open_incidents_count=open_incidents_count()
        )

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        if page is not None and self.action == "list":
            attach_recent_metrics(page)
        return page

    @extend_schema(
        request=None,
        responses={200: ManualCheckResultSerializer, **errors(401, 403, 404)},
        description="Run one health check now and answer its result.",
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        integration = self.get_object()
        check = run_manual_check(integration, request.user)
        audit.record(
            request.user,
            "test",
            integration,
            {
                "health_status": check.health_status,
                "is_successful": check.is_successful,
                "status_code": check.status_code,
                "response_time_ms": check.response_time_ms,
            },
        )
        return Response(ManualCheckResultSerializer(check).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("window", str, enum=list(WINDOWS), default="24h"),
        ],
        responses={200: UptimeSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get"])
    def uptime(self, request: Request, pk: str | None = None) -> Response:
        window = request.query_params.get("window", "24h")
        if window not in WINDOWS:
            raise serializers.ValidationError({"window": "One of 24h, 7d, 30d."})
        integration = self.get_object()
        summary = uptime_summary(integration.pk, window)
        return Response(UptimeSerializer(summary).data)

    @extend_schema(
        parameters=since_until,
        responses={200: MetricSerializer(many=True), **errors(400, 401, 403, 404)},
        description=(
            "Hourly rows, newest first; by default the last 7 days, at most 92 days."
        ),
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=type(
            "MetricsPagination",
            (PageNumberPagination,),
            {"page_size": 168, "max_page_size": 24 * 92},
        ),
    )
    def metrics(self, request: Request, pk: str | None = None) -> Response:
        integration = get_object_or_404(Integration.objects.only("pk"), pk=pk)
        since, until = time_range(
            request.query_params,
            default_span=METRICS_DEFAULT_SPAN,
            max_span=METRICS_MAX_SPAN,
        )
        rows = Metric.objects.filter(integration=integration)
        if since is not None:
            rows = rows.filter(_hour_from(since))
        if until is not None:
            rows = rows.filter(_hour_until(until))
        page = self.paginate_queryset(rows.order_by("-metric_date", "-metric_hour"))
        return self.get_paginated_response(MetricSerializer(page, many=True).data)


def _utc_hour(moment: datetime.datetime) -> tuple[datetime.date, int]:
    moment = moment.astimezone(datetime.UTC)
    return moment.date(), moment.hour


def _hour_from(moment: datetime.datetime) -> Q:
    day, hour = _utc_hour(moment)
    return Q(metric_date__gt=day) | Q(metric_date=day, metric_hour__gte=hour)


def _hour_until(moment: datetime.datetime) -> Q:
    day, hour = _utc_hour(moment)
    return Q(metric_date__lt=day) | Q(metric_date=day, metric_hour__lte=hour)


class HealthCheckFilter(django_filters.FilterSet):
    class Meta:
        model = HealthCheck
        fields = ["health_status", "check_type", "is_successful"]


@extend_schema_view(
    list=extend_schema(
        parameters=since_until,
        responses={200: HealthCheckSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        responses={200: HealthCheckDetailSerializer, **errors(401, 403, 404)}
    ),
)
class HealthCheckViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Checks of one integration, newest first."""

    permission_classes = [ReadOnlyPermission]
    filterset_class = HealthCheckFilter
    search_fields: list[str] = []
    ordering_fields = ["check_timestamp", "response_time_ms"]
    ordering = ["-check_timestamp"]

    def get_serializer_class(self) -> type[HealthCheckSerializer]:
        if self.action == "retrieve":
            return HealthCheckDetailSerializer
        return HealthCheckSerializer

    def get_queryset(self) -> QuerySet[HealthCheck]:
        if getattr(self, "swagger_fake_view", False):
            return HealthCheck.objects.none()
        try:
            owner = uuid.UUID(self.kwargs["integration_pk"])
        except ValueError:
            raise Http404 from None
        if not Integration.objects.filter(pk=owner).exists():
            raise Http404
        rows = HealthCheck.objects.filter(integration_id=owner).select_related(
            "triggered_by"
        )
        since, until = time_range(self.request.query_params)
        if since is not None:
            rows = rows.filter(check_timestamp__gte=since)
        if until is not None:
            rows = rows.filter(check_timestamp__lte=until)
        return rows


class DependencyFilter(django_filters.FilterSet):
    class Meta:
        model = Dependency
        fields = ["integration", "depends_on", "dependency_type"]


@extend_schema_view(**crud_schema(DependencySerializer))
class DependencyViewSet(AuditedMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    permission_classes = [DependencyPermission]
    serializer_class = DependencySerializer
    filterset_class = DependencyFilter
    search_fields = ["integration__display_name", "depends_on__display_name"]
    ordering_fields = ["created_at", "dependency_type"]
    ordering = ["integration__display_name", "depends_on__display_name", "id"]
    queryset = Dependency.objects.select_related("integration", "depends_on")

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            _lock_dependency_graph()
            super().perform_create(serializer)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            _lock_dependency_graph()
            super().perform_update(serializer)


def _lock_dependency_graph() -> None:
    """Serialise graph edits so two edits cannot close a cycle between them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('integration_dependencies'))"
        )


class SystemConfigFilter(django_filters.FilterSet):
    class Meta:
        model = SystemConfig
        fields = ["config_type"]


@extend_schema_view(**crud_schema(SystemConfigSerializer))
class SystemConfigViewSet(AuditedMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    permission_classes = [SystemConfigPermission]
    serializer_class = SystemConfigSerializer
    filterset_class = SystemConfigFilter
    search_fields = ["config_key", "description"]
    ordering_fields = ["config_key", "updated_at"]
    ordering = ["config_key"]
    lookup_field = "config_key"
    queryset = SystemConfig.objects.select_related("last_updated_by")

    def perform_create(self, serializer: Any) -> None:
        serializer.validated_data["last_updated_by"] = self.request.user
        super().perform_create(serializer)

    def perform_update(self, serializer: Any) -> None:
        serializer.validated_data["last_updated_by"] = self.request.user
        super().perform_update(serializer)


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_name", help_text="Username of who made the change."
    )
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "since", "until"]


@extend_schema_view(**crud_schema(AuditEventSerializer, "list", "retrieve"))
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    permission_classes = [AuditLogPermission]
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    search_fields = ["object_repr"]
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "id"]
    queryset = AuditEvent.objects.all()


class DashboardView(APIView):
    permission_classes = [DashboardPermission]

    @extend_schema(responses={200: DashboardSerializer, **errors(401, 403)})
    def get(self, request: Request) -> Response:
        # Every role sees the same figures, and they change slowly next to a
        # page refresh: a few seconds of staleness spares a scan per viewer.
        data = cache.get(DASHBOARD_CACHE_KEY)
        if data is None:
            data = DashboardSerializer(dashboard()).data
            cache.set(DASHBOARD_CACHE_KEY, data, DASHBOARD_CACHE_SECONDS)
        return Response(data)


def dashboard() -> dict[str, Any]:
    """Gather the dashboard's figures in four aggregate queries."""
    now = timezone.now()
    active = Integration.objects.filter(is_active=True)
    by_status = dict.fromkeys(HealthStatus.values, 0)
    for row in active.order_by().values("current_health_status").annotate(n=Count("*")):
        by_status[row["current_health_status"]] = row["n"]

    down = active.filter(is_critical=True, current_health_status="critical").order_by(
        "display_name"
    )

    by_severity = {"info": 0, "warning": 0, "critical": 0, "urgent": 0}
    unresolved = Incident.objects.filter(status__in=UNRESOLVED).order_by()
    for counted in unresolved.values("severity").annotate(n=Count("*")):
        by_severity[counted["severity"]] = counted["n"]

    since = now - datetime.timedelta(hours=24)
    totals = Metric.objects.filter(_hour_from(since)).aggregate(
        total=Coalesce(Sum("total_checks"), 0),
        successful=Coalesce(Sum("successful_checks"), 0),
    )
    total, successful = totals["total"], totals["successful"]
    return {
        "integrations": {"total": sum(by_status.values()), "by_status": by_status},
        "critical_down": list(down),
        "open_incidents": {
            "total": sum(by_severity.values()),
            "by_severity": by_severity,
        },
        "uptime_24h": {
            "since": since,
            "until": now,
            "uptime_percentage": round(successful * 100 / total, 2) if total else None,
            "total_checks": total,
            "successful_checks": successful,
        },
        "generated_at": now,
    }
