"""Which network addresses outbound requests may reach."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Link-local space holds cloud metadata services: refused even when a broader
# allowed network covers it, unless an allowed network lies inside it.
_LINK_LOCAL = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)
_EXTRA_REFUSED = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


def _unwrap(address: IPAddress) -> IPAddress:
    """Reduce IPv6 spellings of an IPv4 address to the IPv4 address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        packed = address.packed
        # IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) spellings.
        if packed[:12] == bytes(12) and int(address) > 1:
            return ipaddress.IPv4Address(packed[12:])
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(packed[12:])
    return address


def _public(address: IPAddress) -> bool:
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    return not any(
        address in net for net in _EXTRA_REFUSED if net.version == address.version
    )


def refusal(address: Any, allowed: Any = None) -> str | None:
    """Say why an address may not be reached, or None when it may."""
    ip = _unwrap(ipaddress.ip_address(address))
    networks = settings.MONITOR_ALLOWED_NETWORKS if allowed is None else allowed
    listed = [net for net in networks if net.version == ip.version and ip in net]

    if any(ip in net for net in _LINK_LOCAL if net.version == ip.version):
        # Only an allowed network that is itself link-local admits these.
        if any(
            net.subnet_of(ll)  # type: ignore[arg-type]
            for net in listed
            for ll in _LINK_LOCAL
            if ll.version == net.version
        ):
            return None
        return f"{ip} is link-local (cloud metadata) and refused"
    if _public(ip) or listed:
        return None
    if ip.is_loopback:
        return f"{ip} is a loopback address and refused"
    if ip.is_unspecified:
        return f"{ip} is unspecified and refused"
    if ip.is_multicast:
        return f"{ip} is multicast and refused"
    if ip.is_private or any(
        ip in net for net in _EXTRA_REFUSED if net.version == ip.version
    ):
        return f"{ip} is a private address and refused"
    return f"{ip} is a reserved address and refused"


def parse_literal(host: str) -> IPAddress | None:
    """Parse a host written as an address in any spelling the resolver accepts."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host.count(":") >= 2:
        # IPv6 with a zone index (fe80::1%eth0) still names an address.
        try:
            return ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
    try:
        # inet_aton takes the legacy forms: 2130706433, 0x7f.1, 0177.0.0.1, 127.1
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
