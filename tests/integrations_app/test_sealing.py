from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from integrations_app.models import Integration
from monitor_project.sealing import SecretUnreadable
from tests.integrations_app.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

CANARY = "canary-5b0e9d7c-secret"


def stored_text(integration: Integration, column: str = "auth_config") -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column}::text FROM integrations WHERE id = %s",  # noqa: S608
            [integration.pk],
        )
        return str(cursor.fetchone()[0])


def test_credentials_round_trip_through_the_database() -> None:
    integration = IntegrationFactory(auth_type="bearer", auth_config={"token": CANARY})

    fresh = Integration.objects.get(pk=integration.pk)

    assert fresh.auth_config.reveal() == {"token": CANARY}
    assert fresh.auth_config.keys == ["token"]


def test_the_database_holds_ciphertext_not_the_secret() -> None:
    integration = IntegrationFactory(
        auth_type="basic",
        auth_config={"username": "svc", "password": CANARY},
        custom_headers={"X-Api-Key": CANARY},
    )

    assert CANARY not in stored_text(integration)
    assert CANARY not in stored_text(integration, "custom_headers")
    assert '"keys": ["password", "username"]' in stored_text(integration)


def test_the_repr_of_a_sealed_value_shows_no_secret() -> None:
    integration = IntegrationFactory(auth_type="bearer", auth_config={"token": CANARY})

    assert CANARY not in repr(integration.auth_config)
    assert CANARY not in repr(Integration.objects.get(pk=integration.pk).__dict__)


def test_older_keys_still_decrypt_after_a_new_key_is_added(settings) -> None:
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    integration = IntegrationFactory(auth_type="bearer", auth_config={"token": CANARY})

    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode(), old]):
        assert Integration.objects.get(pk=integration.pk).auth_config.reveal() == {
            "token": CANARY
        }


def test_rotation_re_encrypts_under_the_newest_key_only_what_needs_it(
    settings, capsys
) -> None:
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    first = IntegrationFactory(auth_type="bearer", auth_config={"token": CANARY})
    IntegrationFactory(auth_type="none")
    before = stored_text(first)

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        call_command("rotate_secrets")
        assert "1 rows re-encrypted" in capsys.readouterr().out
        call_command("rotate_secrets")
        assert "0 rows re-encrypted" in capsys.readouterr().out

    assert stored_text(first) != before
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        assert Integration.objects.get(pk=first.pk).auth_config.reveal() == {
            "token": CANARY
        }


def test_a_value_no_key_can_decrypt_names_the_integration(settings) -> None:
    integration = IntegrationFactory(
        name="stripe_live", auth_type="bearer", auth_config={"token": CANARY}
    )

    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        stored = Integration.objects.get(pk=integration.pk)
        with pytest.raises(SecretUnreadable) as caught:
            stored.auth_config.reveal()

    message = str(caught.value)
    assert "stripe_live" in message
    assert "FIELD_ENCRYPTION_KEYS" in message
    assert stored.auth_config.envelope["fernet"] not in message
    assert caught.value.__cause__ is None


def test_rotation_with_an_unreadable_value_fails_with_the_clear_error(settings) -> None:
    from django.core.management.base import CommandError

    IntegrationFactory(
        name="twilio_live", auth_type="bearer", auth_config={"token": CANARY}
    )

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]),
        pytest.raises(CommandError, match="twilio_live"),
    ):
        call_command("rotate_secrets")
