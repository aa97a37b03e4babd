from __future__ import annotations

from django.contrib import admin
from django.urls import path

from monitor_project import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
