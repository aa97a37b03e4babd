"""The one interface every notification channel implements."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Failures of our own configuration or policy: trying again cannot help.
FINAL_KINDS = frozenset({"policy", "invalid", "redirects", "too_large"})


@dataclass(frozen=True)
class Message:
    """What to say, in plain text and as a structured payload."""

    subject: str
    text: str
    severity: str
    payload: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """A send that failed; the message says why without naming any secret."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def fingerprint(recipient: str) -> str:
    """Name a recipient by a short hash: safe in task arguments and records."""
    return hashlib.sha256(recipient.encode()).hexdigest()[:16]


def label(recipient: str) -> str:
    """Show a recipient without its secret parts (webhook paths and queries)."""
    if recipient.startswith(("https://", "http://")):
        parts = urlsplit(recipient)
        return f"{parts.scheme}://{parts.hostname}/… ({fingerprint(recipient)[:8]})"
    return recipient


def http_failure(service: str, status_code: int) -> DeliveryError:
    return DeliveryError(
        f"{service} answered HTTP {status_code}",
        retryable=status_code in RETRY_STATUSES,
    )


def unreachable(service: str, exc: Any) -> DeliveryError:
    kind = getattr(exc, "kind", "error")
    return DeliveryError(
        f"{service} unreachable ({kind})", retryable=kind not in FINAL_KINDS
    )


class Channel(ABC):
    """Deliver one message to one recipient, raising DeliveryError on failure."""

    name: ClassVar[str]

    def accepts(self, severity: str) -> bool:
        return True

    @abstractmethod
    def send(self, message: Message, recipient: str) -> None: ...
