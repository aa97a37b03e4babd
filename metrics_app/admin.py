from __future__ import annotations

from django.contrib import admin

from metrics_app.models import Baseline, Metric
from monitor_project.admin_roles import ReadOnlyAdmin


@admin.register(Metric)
class MetricAdmin(ReadOnlyAdmin):
    list_display = [
        "integration",
        "metric_date",
        "metric_hour",
        "total_checks",
        "uptime_percentage",
        "error_rate",
        "avg_response_time_ms",
        "p95_response_time_ms",
    ]
    list_filter = ["metric_date"]
    list_select_related = ["integration"]
    search_fields = ["integration__display_name"]
    show_full_result_count = False


@admin.register(Baseline)
class BaselineAdmin(ReadOnlyAdmin):
    list_display = [
        "integration",
        "baseline_type",
        "baseline_start_date",
        "baseline_end_date",
        "baseline_response_time_ms",
        "baseline_uptime_percentage",
        "sample_size",
        "is_active",
    ]
    list_filter = ["baseline_type", "is_active"]
    list_select_related = ["integration"]
    search_fields = ["integration__display_name"]
