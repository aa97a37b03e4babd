from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import pre_save


class AlertsConfig(AppConfig):
    name = "alerts_app"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import task_failure

        from alerts_app import dependencies, engine, tasks
        from integrations_app.models import Dependency
        from integrations_app.signals import status_changed

        status_changed.connect(engine.on_status_changed, dispatch_uid="alerts-evaluate")
        pre_save.connect(
            dependencies.refuse_cycles, sender=Dependency, dispatch_uid="alerts-cycles"
        )
        task_failure.connect(tasks._task_failure, weak=False)
