"""Encryption at rest for credentials, with Fernet keys that can rotate."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver


class SecretUnreadable(Exception):
    """A stored secret that no configured key can decrypt."""


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


@cache
def _newest() -> Fernet:
    return Fernet(settings.FIELD_ENCRYPTION_KEYS[0])


@receiver(setting_changed)
def _forget_keys(setting: str, **kwargs: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()
        _newest.cache_clear()


class Sealed:
    """An encrypted JSON object whose key names are readable but values are not.

    The envelope stored in the database is {"keys": [...], "fernet": "<token>"}:
    the names say which credentials are set without decrypting anything.
    """

    __slots__ = ("_envelope", "owner")

    def __init__(self, envelope: dict[str, Any], owner: str = "") -> None:
        self._envelope = envelope
        self.owner = owner

    @classmethod
    def seal(cls, value: dict[str, Any]) -> Sealed:
        plain = json.dumps(value, separators=(",", ":"), sort_keys=True)
        token = _fernet().encrypt(plain.encode()).decode()
        return cls({"keys": sorted(value), "fernet": token})

    @property
    def keys(self) -> list[str]:
        return list(self._envelope.get("keys", []))

    @property
    def envelope(self) -> dict[str, Any]:
        return dict(self._envelope)

    def reveal(self) -> dict[str, Any]:
        """Decrypt the value; raise SecretUnreadable naming the owner if no key can."""
        try:
            plain = _fernet().decrypt(self._envelope["fernet"].encode())
        except (InvalidToken, KeyError, AttributeError, TypeError):
            where = self.owner or "a stored secret"
            raise SecretUnreadable(
                f"{where} cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS"
            ) from None
        value: dict[str, Any] = json.loads(plain)
        return value

    def is_current(self) -> bool:
        """Tell whether the newest key already encrypts this value."""
        try:
            _newest().decrypt(self._envelope["fernet"].encode())
        except (InvalidToken, KeyError, AttributeError, TypeError):
            return False
        return True

    def rotated(self) -> Sealed:
        return Sealed.seal(self.reveal())

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __repr__(self) -> str:
        return f"<Sealed keys={self.keys}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other._envelope == self._envelope

    def __hash__(self) -> int:
        return hash(self._envelope.get("fernet"))


class _SealedDescriptor:
    def __init__(self, field: SealedJSONField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type[models.Model]) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.field.attname)
        if isinstance(value, Sealed) and not value.owner:
            label = getattr(instance, "name", None) or instance.pk
            value.owner = f"{self.field.name} of {owner._meta.verbose_name} {label!r}"
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = self.field.to_python(value)


class SealedJSONField(models.JSONField):
    """A JSONB column holding a Sealed envelope; a plain dict is sealed when set."""

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False
    ) -> None:
        super().contribute_to_class(cls, name, private_only)
        setattr(cls, self.attname, _SealedDescriptor(self))

    def to_python(self, value: Any) -> Sealed | None:
        if value is None or isinstance(value, Sealed):
            return value
        if isinstance(value, dict):
            return Sealed.seal(value) if value else None
        raise TypeError(f"{self.name} takes a dict of credentials")

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        envelope = super().from_db_value(value, expression, connection)
        return Sealed(envelope) if isinstance(envelope, dict) else None

    def get_prep_value(self, value: Any) -> Any:
        value = self.to_python(value)
        return super().get_prep_value(value.envelope if value else None)

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return json.dumps({"keys": value.keys} if value else None)
