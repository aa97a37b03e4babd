from __future__ import annotations

import json

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection

from alerts_app.models import AlertRule
from integrations_app.models import Integration


@shared_task
def count_alert_rules() -> int:
    return AlertRule.objects.count()


@shared_task
def report_session(key: str) -> None:
    """Write who this worker is to the database into Redis, for a test to read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_setting('app.role', true)")
        user, role = cursor.fetchone()
    report = {"user": user, "role": role, "integrations": Integration.objects.count()}
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(key, json.dumps(report), ex=60)
