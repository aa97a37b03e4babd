from __future__ import annotations

from rest_framework.routers import SimpleRouter

from metrics_app import views

router = SimpleRouter()
router.register("baselines", views.BaselineViewSet, basename="baseline")
