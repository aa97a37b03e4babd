from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitor_project import access
from monitor_project.roles import SYSTEM


def pytest_configure(config: pytest.Config) -> None:
    # Fixtures and assertions act as the system; requests take their user's role.
    access.set_process_default(SYSTEM)


def _user(django_user_model: Any, username: str, role: str | None, **extra: Any) -> Any:
    user = django_user_model.objects.create_user(
        username=username, password="pw-for-tests-only", is_staff=True, **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return _user(django_user_model, "sam_staff", "staff")


@pytest.fixture
def other_staff(django_user_model: Any) -> Any:
    return _user(django_user_model, "olga_staff", "staff")


@pytest.fixture
def manager(django_user_model: Any) -> Any:
    return _user(django_user_model, "mia_manager", "manager")


@pytest.fixture
def superadmin(django_user_model: Any) -> Any:
    return _user(django_user_model, "sue_superadmin", "superadmin")


@pytest.fixture
def nobody(django_user_model: Any) -> Any:
    """An authenticated user who holds no role."""
    return _user(django_user_model, "ned_norole", None)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def api_as(api: APIClient) -> Any:
    def login(user: Any) -> APIClient:
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return login


def _load_seed_rows() -> None:
    from django.apps import apps

    defaults = importlib.import_module("integrations_app.migrations.0003_defaults")
    defaults.load(apps, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Put back the data migrations' rows after a test that flushed the database."""
    yield
    marker = item.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    if nextitem is None:
        return  # the session ends: the test database is already gone
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        _load_seed_rows()
