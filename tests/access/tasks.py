from __future__ import annotations

from celery import shared_task

from alerts_app.models import AlertRule


@shared_task
def count_alert_rules() -> int:
    return AlertRule.objects.count()
