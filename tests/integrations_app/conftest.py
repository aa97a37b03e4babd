from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from tests.integrations_app.upstream import Upstream

_real_getaddrinfo = socket.getaddrinfo


class FakeDNS:
    """Names the tests resolve, since the machine has no internet."""

    def __init__(self) -> None:
        self.names: dict[str, list[str] | Exception] = {}
        self.lookups: list[str] = []
        # Answer for every name not listed, as a public resolver would.
        self.default: list[str] | None = None

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.lookups.append(name)
        answer = self.names.get(name.lower(), self.default)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if isinstance(answer, Exception):
            raise answer
        results = []
        for ip in answer:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sockaddr = (ip, int(port or 0), 0, 0) if ":" in ip else (ip, int(port or 0))
            results.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return results


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    dns = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture
def public_dns(fake_dns: FakeDNS) -> FakeDNS:
    """Resolve every name to a public address, for tests that fake HTTP itself."""
    fake_dns.default = [PUBLIC_ADDRESS]
    return fake_dns


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    settings.MONITOR_ALLOWED_NETWORKS = [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trust_ca(ca: trustme.CA, settings: Any, tmp_path: Any) -> trustme.CA:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.MONITOR_CA_BUNDLE = str(bundle)
    return ca


def server_context(
    ca: trustme.CA, *names: str, not_after: datetime | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf = ca.issue_cert(
        *names,
        not_before=datetime.now(UTC) - timedelta(days=30),
        not_after=not_after or datetime.now(UTC) + timedelta(days=90),
    )
    leaf.configure_cert(context)
    return context


@pytest.fixture
def upstream() -> Iterator[Callable[..., Upstream]]:
    started: list[Upstream] = []

    def start(**kwargs: Any) -> Upstream:
        server = Upstream(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
