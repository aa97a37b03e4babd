from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from alerts_app.urls import router as alerts_router
from integrations_app.urls import router as integrations_router
from metrics_app.urls import router as metrics_router
from monitor_project import views

# One router, so the browsable API's root lists every resource.
api = DefaultRouter()
for app_router in (integrations_router, alerts_router, metrics_router):
    api.registry.extend(app_router.registry)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("integrations_app.urls")),
    path("api/", include(api.urls)),
    path("api-auth/", include("rest_framework.urls")),
]
