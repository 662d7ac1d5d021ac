"""Outbound guard: refuse registry URLs that resolve to addresses a registry should never have.

A registry URL is user input, so without a guard a person could point regscan at the cloud
metadata service (169.254.169.254) or another link-local service and read the answer through
error messages. Loopback and private (RFC 1918, ULA) ranges stay allowed by default because
self-hosted registries live there; link-local, metadata, multicast, unspecified, reserved and
similar addresses are refused unless a CIDR in ``allowed_networks``
(``REGSCAN_ALLOWED_PRIVATE_NETWORKS``) covers them.

The check resolves the host name itself; a DNS answer that changes between this check and the
connection (DNS rebinding) is not covered: that needs pinning the connection to the checked
address, which requests does not offer without breaking TLS host checks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from .base import ProviderError

__all__ = ["blocked_reason", "check_host", "check_url", "parse_networks"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6 metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
}


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDRs (or single addresses); raises ProviderError naming a bad entry."""
    out = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ProviderError(
                f"{value!r} in the allowed networks is not a CIDR like 10.0.0.0/8", permanent=True
            )
    return tuple(out)


def blocked_reason(address: Address) -> str | None:
    """Return why ``address`` is refused by default (``None`` when it is allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return None
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.ip_address(
        "255.255.255.255"
    ):
        return "the broadcast address"
    return None


def _resolve(host: str, port: int) -> list[Address]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_host(
    host: str,
    port: int = 443,
    allowed_networks: Iterable[str] = (),
    *,
    resolve: Callable[[str, int], list[Address]] = _resolve,
) -> None:
    """Resolve ``host`` and raise ProviderError (permanent) when any address is blocked.

    An address inside ``allowed_networks`` is always allowed. An unresolvable host raises a
    transient ProviderError ("cannot resolve")."""
    allowed = parse_networks(allowed_networks)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise ProviderError(f"cannot resolve registry host {host}: {exc}") from None
    for address in addresses:
        if any(address in network for network in allowed):
            continue
        reason = blocked_reason(address)
        if reason:
            raise ProviderError(
                f"refusing to connect to {host} ({address}): it is {reason}. If this registry "
                f"really lives there, add {address} to REGSCAN_ALLOWED_PRIVATE_NETWORKS.",
                permanent=True,
            )


def check_url(url: str, allowed_networks: Iterable[str] = (), **kwargs) -> None:
    """Apply :func:`check_host` to the host of ``url``."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ProviderError(f"{url!r} has no host name", permanent=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    check_host(parts.hostname, port, allowed_networks, **kwargs)
