from __future__ import annotations

import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metrics_app.models import Baseline, Metric


class MetricSerializer(serializers.ModelSerializer[Metric]):
    hour_start = serializers.SerializerMethodField()
    # Computed columns, typed like every other decimal the API answers.
    uptime_percentage = serializers.DecimalField(
        max_digits=5, decimal_places=2, read_only=True, allow_null=True
    )
    error_rate = serializers.DecimalField(
        max_digits=5, decimal_places=2, read_only=True, allow_null=True
    )

    class Meta:
        model = Metric
        exclude = ["integration"]
        read_only_fields = [f.name for f in Metric._meta.concrete_fields]

    @extend_schema_field(serializers.DateTimeField())
    def get_hour_start(self, obj: Metric) -> str:
        start = datetime.datetime.combine(
            obj.metric_date, datetime.time(obj.metric_hour), tzinfo=datetime.UTC
        )
        return start.isoformat()


class BaselineSerializer(serializers.ModelSerializer[Baseline]):
    integration_name = serializers.CharField(
        source="integration.display_name", read_only=True
    )

    class Meta:
        model = Baseline
        fields = "__all__"
        read_only_fields = [f.name for f in Baseline._meta.concrete_fields]
