"""Escalation of incidents that stay unacknowledged."""

from __future__ import annotations

import datetime
import logging
import time

from django.db import connection
from django.utils import timezone

from alerts_app import config, incidents
from alerts_app.models import AlertRule
from alerts_app.notifications.base import label

logger = logging.getLogger(__name__)

# Open incidents whose last escalation (or opening) is older than the rule's
# escalation delay; none inside maintenance, none blamed on a critical upstream.
_DUE = """
SELECT i.id, i.escalation_level, i.alert_rule_id
FROM alert_incidents i
JOIN alert_rules r ON r.id = i.alert_rule_id
WHERE i.status = 'open'
  AND r.escalation_enabled
  AND i.escalation_level < %(limit)s
  AND coalesce(i.escalated_at, i.triggered_at)
      <= %(now)s - r.escalation_after_minutes * interval '1 minute'
  AND NOT EXISTS (
      SELECT 1 FROM maintenance_window_integrations mi
      JOIN maintenance_windows w ON w.id = mi.maintenancewindow_id
      WHERE mi.integration_id = i.integration_id AND w.status = 'in_progress')
  AND NOT EXISTS (
      SELECT 1 FROM integrations u
      WHERE u.id = i.caused_by_id AND u.current_health_status = 'critical')
ORDER BY i.triggered_at
"""


def escalate_due(now: datetime.datetime | None = None) -> int:
    """Escalate every incident that waited too long; return how many moved."""
    started = time.monotonic()
    now = now or timezone.now()
    limit = config.number("max_escalation_level")
    with connection.cursor() as cursor:
        cursor.execute(_DUE, {"limit": limit, "now": now})
        due = cursor.fetchall()
    if not due:
        return 0

    rules = AlertRule.objects.in_bulk({rule_id for _, _, rule_id in due})
    moved = 0
    for incident_id, level, rule_id in due:
        recipients = [label(r) for r in rules[rule_id].escalation_recipients or []]
        try:
            if incidents.escalate(incident_id, level, recipients, now):
                moved += 1
        except Exception:
            logger.exception("incident %s: escalation failed", incident_id)
    logger.info(
        "escalation: %d of %d due incidents escalated in %.0f ms",
        moved,
        len(due),
        (time.monotonic() - started) * 1000,
    )
    return moved
