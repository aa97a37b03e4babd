"""Hourly rollups of health checks and the rolling baselines computed from them."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Cast, Now

from integrations_app.models import Integration, created_at, uuid_pk

_NUMERIC = models.DecimalField(max_digits=20, decimal_places=10)


def _percentage(part: str) -> Case:
    return Case(
        When(
            total_checks__gt=0,
            then=Cast(part, _NUMERIC)
            / Cast("total_checks", _NUMERIC)
            * Value(Decimal(100)),
        ),
        default=None,
        output_field=models.DecimalField(max_digits=5, decimal_places=2),
    )


class Metric(models.Model):
    id = uuid_pk()
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="metrics"
    )

    metric_date = models.DateField()
    metric_hour = models.IntegerField()
    time_window_minutes = models.IntegerField(default=60, db_default=60)

    total_checks = models.IntegerField(default=0, db_default=0)
    successful_checks = models.IntegerField(default=0, db_default=0)
    failed_checks = models.IntegerField(default=0, db_default=0)
    uptime_percentage = models.GeneratedField(
        expression=_percentage("successful_checks"),
        output_field=models.DecimalField(max_digits=5, decimal_places=2, null=True),
        db_persist=True,
    )

    avg_response_time_ms = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )
    min_response_time_ms = models.IntegerField(null=True, blank=True)
    max_response_time_ms = models.IntegerField(null=True, blank=True)
    p50_response_time_ms = models.IntegerField(null=True, blank=True)
    p95_response_time_ms = models.IntegerField(null=True, blank=True)
    p99_response_time_ms = models.IntegerField(null=True, blank=True)
    # Beyond the requirements' schema: the count, sum and sum of squares of the
    # hour's response times, so that means and deviations over any span of
    # hours (uptime windows, baselines) are exact without the raw checks.
    response_time_samples = models.IntegerField(default=0, db_default=0)
    response_time_sum_ms = models.BigIntegerField(null=True, blank=True)
    response_time_sum_squares = models.FloatField(null=True, blank=True)

    error_count = models.IntegerField(default=0, db_default=0)
    error_rate = models.GeneratedField(
        expression=_percentage("error_count"),
        output_field=models.DecimalField(max_digits=5, decimal_places=2, null=True),
        db_persist=True,
    )

    status_2xx_count = models.IntegerField(default=0, db_default=0)
    status_3xx_count = models.IntegerField(default=0, db_default=0)
    status_4xx_count = models.IntegerField(default=0, db_default=0)
    status_5xx_count = models.IntegerField(default=0, db_default=0)
    timeout_count = models.IntegerField(default=0, db_default=0)

    availability_score = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True
    )
    performance_score = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True
    )
    reliability_score = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True
    )

    created_at = created_at()

    class Meta:
        db_table = "integration_metrics"
        ordering = ["-metric_date", "-metric_hour"]
        indexes = [
            models.Index(
                "integration",
                models.F("metric_date").desc(),
                models.F("metric_hour").desc(),
                name="idx_metrics_integration_date",
            ),
            models.Index(
                "uptime_percentage",
                models.F("metric_date").desc(),
                name="idx_metrics_uptime",
            ),
            # Retention deletes by date across every integration.
            models.Index(fields=["metric_date"], name="idx_metrics_date"),
            # An uptime window reads up to 720 rows of one integration; with
            # what it needs in the index they come from an index-only scan
            # instead of one heap page per hour.
            models.Index(
                fields=["integration", "metric_date", "metric_hour"],
                include=[
                    "total_checks",
                    "successful_checks",
                    "response_time_samples",
                    "response_time_sum_ms",
                    "p95_response_time_ms",
                ],
                name="idx_metrics_uptime_window",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "metric_date", "metric_hour"],
                name="integration_metrics_unique_hour",
            ),
            models.CheckConstraint(
                condition=Q(metric_hour__gte=0, metric_hour__lte=23),
                name="integration_metrics_metric_hour_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.metric_date} {self.metric_hour:02d}h"


class Baseline(models.Model):
    id = uuid_pk()
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="baselines"
    )

    baseline_start_date = models.DateField()
    baseline_end_date = models.DateField()
    baseline_type = models.CharField(
        max_length=50, default="rolling_30d", db_default="rolling_30d"
    )

    baseline_response_time_ms = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )
    baseline_uptime_percentage = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    baseline_error_rate = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    baseline_requests_per_hour = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )

    response_time_std_dev = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )
    uptime_std_dev = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )

    sample_size = models.IntegerField(null=True, blank=True)
    confidence_level = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("95.0"),
        db_default=Decimal("95.0"),
    )

    is_active = models.BooleanField(default=True, db_default=True)
    last_calculated = models.DateTimeField(auto_now=True, db_default=Now())

    created_at = created_at()

    class Meta:
        db_table = "integration_baselines"
        ordering = ["-baseline_end_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "baseline_type", "baseline_start_date"],
                name="integration_baselines_unique_period",
            ),
            # The health-check engine reads "the" active baseline of a kind.
            models.UniqueConstraint(
                fields=["integration", "baseline_type"],
                condition=Q(is_active=True),
                name="integration_baselines_one_active",
            ),
        ]

    def __str__(self) -> str:
        start = self.baseline_start_date
        return f"{self.integration_id} {self.baseline_type} from {start}"
