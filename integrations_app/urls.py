from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from integrations_app import views

router = SimpleRouter()
router.register("integrations", views.IntegrationViewSet, basename="integration")
router.register("dependencies", views.DependencyViewSet, basename="dependency")
router.register("system-config", views.SystemConfigViewSet, basename="system-config")
router.register("audit-log", views.AuditEventViewSet, basename="audit-event")

nested = SimpleRouter()
nested.register("health-checks", views.HealthCheckViewSet, basename="health-check")

urlpatterns = [
    path("integrations/<str:integration_pk>/", include(nested.urls)),
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
]
