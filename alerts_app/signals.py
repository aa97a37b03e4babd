"""Announcements of incident changes; live updates subscribe to them."""

from __future__ import annotations

from django.dispatch import Signal

# incident_id, event: "opened", "acknowledged", "resolved", "escalated", "suppressed"
incident_changed = Signal()
