from __future__ import annotations

import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metrics_app.models import Baseline, Metric
from monitor_project.api import ReadableFieldsOnce


class MetricSerializer(serializers.ModelSerializer[Metric]):
    hour_start = serializers.SerializerMethodField()
    # Computed columns, typed like every other decimal the API answers.
    uptime_percentage = serializers.DecimalField(
        max_digits=5, decimal_places=2, read_only=True, allow_null=True
    )
    error_rate = serializers.DecimalField(
        max_digits=5, decimal_places=2, read_only=True, allow_null=True
    )

    _columns: list[tuple[str, str, serializers.Field[Any, Any, Any, Any]]] | None = None

    class Meta:
        model = Metric
        exclude = ["integration"]
        read_only_fields = [f.name for f in Metric._meta.concrete_fields]

    def to_representation(self, instance: Metric) -> dict[str, Any]:
        # A chart asks for hundreds of rows of plain columns: look each field
        # up once, not once per row as the generic path does.
        if self._columns is None:
            self._columns = [
                (str(field.field_name), str(field.source), field)
                for field in self._readable_fields
                if field.field_name != "hour_start"
            ]
        row: dict[str, Any] = {}
        for name, source, field in self._columns:
            value = getattr(instance, source)
            row[name] = None if value is None else field.to_representation(value)
        row["hour_start"] = self.get_hour_start(instance)
        return row

    @extend_schema_field(serializers.DateTimeField())
    def get_hour_start(self, obj: Metric) -> str:
        start = datetime.datetime.combine(
            obj.metric_date, datetime.time(obj.metric_hour), tzinfo=datetime.UTC
        )
        return start.isoformat()


class BaselineSerializer(ReadableFieldsOnce, serializers.ModelSerializer[Baseline]):
    integration_name = serializers.CharField(
        source="integration.display_name", read_only=True
    )

    class Meta:
        model = Baseline
        fields = "__all__"
        read_only_fields = [f.name for f in Baseline._meta.concrete_fields]
