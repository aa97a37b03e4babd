"""The notification rate limit per integration per clock hour, shared by workers."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connection


def hour_of(now: datetime.datetime) -> datetime.datetime:
    return now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def take(integration_id: Any, limit: int, now: datetime.datetime) -> bool:
    """Spend one notification of this hour's allowance; False when none is left.

    One upsert decides, so two workers racing for the last unit cannot both win.
    """
    if limit <= 0:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO alert_notification_quota (integration_id, window_start, used)
            VALUES (%s, %s, 1)
            ON CONFLICT (integration_id, window_start) DO UPDATE
                SET used = alert_notification_quota.used + 1
                WHERE alert_notification_quota.used < %s
            RETURNING used
            """,
            [integration_id, hour_of(now), limit],
        )
        return cursor.fetchone() is not None


def forget_before(when: datetime.datetime) -> int:
    from alerts_app.models import NotificationQuota

    deleted, _ = NotificationQuota.objects.filter(
        window_start__lt=hour_of(when)
    ).delete()
    return deleted
