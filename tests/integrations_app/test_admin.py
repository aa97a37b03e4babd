from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.urls import reverse

from alerts_app.models import AlertRule, Incident, MaintenanceWindow
from integrations_app.models import AuditEvent, Integration, SystemConfig
from tests.integrations_app.factories import (
    DependencyFactory,
    HealthCheckFactory,
    IntegrationFactory,
)

pytestmark = pytest.mark.django_db

CANARY = "canary-admin-9f1c2e-secret"


@pytest.fixture
def rows(manager: Any) -> dict[str, Any]:
    integration = IntegrationFactory(
        auth_type="basic",
        auth_config={"username": "svc", "password": CANARY},
        custom_headers={"X-Api-Key": CANARY},
    )
    HealthCheckFactory(integration=integration)
    DependencyFactory(integration=integration)
    rule = AlertRule.objects.create(
        integration=integration,
        rule_name="down",
        alert_type="availability",
        condition_metric="health_status",
        condition_operator=">=",
        condition_threshold=2,
        severity="critical",
    )
    Incident.objects.create(
        alert_rule=rule,
        integration=integration,
        alert_message="down",
        severity="critical",
    )
    from django.utils import timezone

    window = MaintenanceWindow.objects.create(
        title="upgrade",
        scheduled_start=timezone.now(),
        scheduled_end=timezone.now() + timezone.timedelta(hours=1),
    )
    window.affected_integrations.add(integration)
    return {"integration": integration}


def admin_urls() -> list[tuple[str, str]]:
    return [
        (model._meta.app_label, model._meta.model_name)
        for model in admin.site._registry
        if model._meta.app_label in {"integrations_app", "metrics_app", "alerts_app"}
    ]


@pytest.mark.parametrize("app_label, model_name", admin_urls())
def test_every_admin_list_and_change_page_opens_for_a_superadmin(
    client: Any, superadmin: Any, rows: dict[str, Any], app_label: str, model_name: str
) -> None:
    client.force_login(superadmin)
    model = admin.site._registry.__class__  # keep mypy calm about the registry
    del model

    listing = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert listing.status_code == 200

    from django.apps import apps

    obj = apps.get_model(app_label, model_name)._default_manager.first()
    if obj is not None:
        page = client.get(
            reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])
        )
        assert page.status_code == 200
        assert CANARY not in page.content.decode()


@pytest.mark.parametrize("model", [Integration, AlertRule, Incident, MaintenanceWindow])
def test_managers_open_the_models_they_manage(
    client: Any, manager: Any, rows: dict[str, Any], model: Any
) -> None:
    client.force_login(manager)
    meta = model._meta
    obj = model._default_manager.first()

    assert (
        client.get(
            reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        ).status_code
        == 200
    )
    page = client.get(
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    )
    assert page.status_code == 200
    assert CANARY not in page.content.decode()
    assert 'name="_save"' in page.content.decode()


def test_the_integration_form_says_which_credentials_are_set_but_not_their_values(
    client: Any, manager: Any, rows: dict[str, Any]
) -> None:
    client.force_login(manager)
    integration = rows["integration"]

    page = client.get(
        reverse("admin:integrations_app_integration_change", args=[integration.pk])
    )
    html = page.content.decode()

    assert CANARY not in html
    assert "Currently set; blank keeps it" in html
    assert "Set: X-Api-Key" in html


def change_form_data(integration: Integration, **changes: Any) -> dict[str, Any]:
    data = {
        "name": integration.name,
        "display_name": integration.display_name,
        "service_type": integration.service_type,
        "category": integration.category,
        "base_url": integration.base_url,
        "health_check_endpoint": integration.health_check_endpoint,
        "auth_type": integration.auth_type,
        "is_active": "on",
        "monitoring_enabled": "on",
        "health_check_interval_minutes": 5,
        "timeout_seconds": 30,
        "environment": "production",
        "expected_response_codes": "200",
        "health_check_method": "GET",
    }
    for prefix in ("alert_rules", "dependencies", "health_checks"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    data.update(changes)
    return data


def formset_prefixes(client: Any, integration: Integration) -> dict[str, Any]:
    page = client.get(
        reverse("admin:integrations_app_integration_change", args=[integration.pk])
    )
    context = page.context
    data: dict[str, Any] = {}
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        data[f"{formset.prefix}-TOTAL_FORMS"] = 0
        data[f"{formset.prefix}-INITIAL_FORMS"] = 0
    return data


def test_saving_with_blank_credentials_keeps_the_stored_secret(
    client: Any, manager: Any, rows: dict[str, Any]
) -> None:
    client.force_login(manager)
    integration = rows["integration"]
    data = change_form_data(integration, display_name="Renamed")
    data.update(formset_prefixes(client, integration))

    response = client.post(
        reverse("admin:integrations_app_integration_change", args=[integration.pk]),
        data,
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = Integration.objects.get(pk=integration.pk)
    assert fresh.display_name == "Renamed"
    assert fresh.auth_config.reveal() == {"username": "svc", "password": CANARY}
    assert fresh.custom_headers.reveal() == {"X-Api-Key": CANARY}
    event = AuditEvent.objects.get(action="update", object_id=str(integration.pk))
    assert event.details["changes"]["display_name"] == [
        integration.display_name,
        "Renamed",
    ]
    assert CANARY not in str(event.details)


def test_a_new_credential_replaces_only_that_key(
    client: Any, manager: Any, rows: dict[str, Any]
) -> None:
    client.force_login(manager)
    integration = rows["integration"]
    data = change_form_data(integration, auth_password="new-password")
    data.update(formset_prefixes(client, integration))

    client.post(
        reverse("admin:integrations_app_integration_change", args=[integration.pk]),
        data,
    )

    fresh = Integration.objects.get(pk=integration.pk)
    assert fresh.auth_config.reveal() == {"username": "svc", "password": "new-password"}


def test_a_header_with_a_line_break_is_refused(
    client: Any, manager: Any, rows: dict[str, Any]
) -> None:
    client.force_login(manager)
    integration = rows["integration"]
    data = change_form_data(integration, headers_text="X-Evil: a\rInjected: b")
    data.update(formset_prefixes(client, integration))

    response = client.post(
        reverse("admin:integrations_app_integration_change", args=[integration.pk]),
        data,
    )

    assert response.status_code == 200
    assert "may not contain CR" in response.content.decode()
    assert Integration.objects.get(pk=integration.pk).custom_headers.reveal() == {
        "X-Api-Key": CANARY
    }


def test_staff_read_integrations_in_the_admin_but_cannot_save(
    client: Any, staff: Any, rows: dict[str, Any]
) -> None:
    client.force_login(staff)
    integration = rows["integration"]
    url = reverse("admin:integrations_app_integration_change", args=[integration.pk])

    assert (
        client.get(reverse("admin:integrations_app_integration_changelist")).status_code
        == 200
    )
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()

    response = client.post(url, change_form_data(integration, display_name="Hijacked"))
    assert response.status_code == 403
    assert Integration.objects.get(pk=integration.pk).display_name != "Hijacked"
    assert (
        client.post(reverse("admin:integrations_app_integration_add"), {}).status_code
        == 403
    )


def test_staff_do_not_see_alert_rules_or_system_config(
    client: Any, staff: Any, rows: dict[str, Any]
) -> None:
    client.force_login(staff)

    assert (
        client.get(reverse("admin:alerts_app_alertrule_changelist")).status_code == 403
    )
    assert (
        client.get(
            reverse("admin:integrations_app_systemconfig_changelist")
        ).status_code
        == 403
    )


def test_only_superadmins_change_system_config_and_users(
    client: Any, manager: Any, superadmin: Any
) -> None:
    row = SystemConfig.objects.get(config_key="max_consecutive_failures")
    url = reverse("admin:integrations_app_systemconfig_change", args=[row.pk])
    client.force_login(manager)
    assert 'name="_save"' not in client.get(url).content.decode()
    assert (
        client.post(
            url,
            {
                "config_key": row.config_key,
                "config_value": "9",
                "config_type": "global",
            },
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403

    client.force_login(superadmin)
    response = client.post(
        url,
        {"config_key": row.config_key, "config_value": "4", "config_type": "global"},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.config_value == 4
    assert row.last_updated_by == superadmin
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
