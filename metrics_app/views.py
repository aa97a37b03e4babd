"""API views for baselines; hourly metrics are served under each integration."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_view
from rest_framework import viewsets

from metrics_app.models import Baseline
from metrics_app.serializers import BaselineSerializer
from monitor_project.api import crud_schema
from monitor_project.permissions import ReadOnlyPermission


class BaselineFilter(django_filters.FilterSet):
    class Meta:
        model = Baseline
        fields = ["integration", "baseline_type", "is_active"]


@extend_schema_view(**crud_schema(BaselineSerializer, "list", "retrieve"))
class BaselineViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    permission_classes = [ReadOnlyPermission]
    serializer_class = BaselineSerializer
    filterset_class = BaselineFilter
    search_fields = ["integration__display_name"]
    ordering_fields = ["baseline_end_date", "baseline_start_date"]
    ordering = ["-baseline_end_date", "id"]
    queryset = Baseline.objects.select_related("integration")
