"""Address ranges of a cluster's network plan: parsing, overlap, and the blocks AKS reserves.

The rules that compare pod, service and VNet ranges (CNI-013, SVC-001..003,
IPX-003) read them through here, so a range that does not parse is reported
the same way everywhere (domain.md §1.1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

AKS_RESERVED_RANGES: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")
)
"""Ranges pod, service and VNet ranges must not overlap (A-CNIO, A-LEG, A-KUB)."""


@dataclass(frozen=True)
class NamedRange:
    """One range of the plan and what it is (``pod CIDR``, ``VNet vnet1``, ...)."""

    network: Network
    what: str

    def __str__(self) -> str:
        return f"{self.network} ({self.what})"


def parse_networks(values: Iterable[str]) -> tuple[list[Network], list[str]]:
    """The ranges that parse (host bits allowed, as ARM accepts them) and the texts that do not."""
    networks: list[Network] = []
    invalid: list[str] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            invalid.append(value)
    return networks, invalid


def parse_address(value: str) -> Address | None:
    """An IP address, or None when ``value`` is not one."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def overlaps(first: Network, second: Network) -> bool:
    """Whether two ranges share an address; ranges of different IP versions never do."""
    return first.version == second.version and first.overlaps(second)


def overlapping(network: Network, others: Iterable[NamedRange]) -> list[NamedRange]:
    """The ``others`` that share an address with ``network``."""
    return [other for other in others if overlaps(network, other.network)]
