from __future__ import annotations

from rest_framework.routers import SimpleRouter

from alerts_app import views

router = SimpleRouter()
router.register("alert-rules", views.AlertRuleViewSet, basename="alert-rule")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register(
    "maintenance-windows", views.MaintenanceWindowViewSet, basename="maintenance-window"
)
