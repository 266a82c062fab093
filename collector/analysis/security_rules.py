"""Which part of a flow a network security group denies, as Azure evaluates its rules.

A flow (source range, destination range, every protocol and port) and each rule are
boxes of five dimensions: source addresses, destination addresses, protocol, source
ports, destination ports, each a set of integer intervals. Walking one direction's
rules by priority (lowest number first, custom rules 100-4096 before the defaults at
65000+), an Allow removes its box from what is still undecided; a Deny takes its share
of what is undecided, and that share is denied. Box subtraction keeps this exact for any
number of rules: allows that only together cover a deny (one for TCP, one for UDP)
shadow it only for what they cover.

Address prefixes, and how service tags are treated for traffic between a cluster's nodes
and pods (private addresses inside its VNet and its pod CIDR):

* CIDR ranges and single addresses are what they say (IPv4 and IPv6 share one number
  line, IPv6 after IPv4, so an IPv4 rule never matches IPv6 traffic).
* ``*`` and ``Any`` are every address; ``0.0.0.0/0`` every IPv4 and ``::/0`` every IPv6
  address.
* ``VirtualNetwork`` is every address of the flow: it covers the VNet's address space
  and the networks connected to it, and the overlay pod CIDR too. Azure's default
  ``AllowVnetInBound``/``AllowVnetOutBound`` (VirtualNetwork to VirtualNetwork) are what
  lets pod traffic through an NSG without custom rules, which is why the overlay docs ask
  for explicit allows only "if the subnet NSG contains deny rules that would impact the
  pod CIDR traffic" (A-OVC). A Deny with VirtualNetwork therefore denies pod traffic too.
* ``Internet`` (addresses outside the VNet reachable from the public internet),
  ``AzureLoadBalancer`` (the platform's 168.63.129.16) and every other service tag (the
  public address ranges of an Azure service) match no node or pod address.

A rule with application security groups matches the network interfaces in those groups,
which the inventory does not read: when one could match what is still undecided, the
walk stops there and says so (:attr:`FlowVerdict.undecidable`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netaudit.v1 import inventory_pb2

Interval = tuple[int, int]
"""Inclusive bounds."""
Ranges = tuple[Interval, ...]
"""Sorted, disjoint, non-adjacent intervals; empty means nothing."""
Box = tuple[Ranges, Ranges, Ranges, Ranges, Ranges]
"""(source addresses, destination addresses, protocol, source ports, destination ports)."""

IPV6_OFFSET = 1 << 32
"""IPv6 addresses sit after the IPv4 ones on the address line."""
ALL_IPV4: Ranges = ((0, IPV6_OFFSET - 1),)
ALL_IPV6: Ranges = ((IPV6_OFFSET, IPV6_OFFSET + (1 << 128) - 1),)
ALL_ADDRESSES: Ranges = ((0, IPV6_OFFSET + (1 << 128) - 1),)
ALL_PROTOCOLS: Ranges = ((0, 255),)
ALL_PORTS: Ranges = ((0, 65535),)
NOTHING: Ranges = ()

EVERY_ADDRESS_TAGS = frozenset({"*", "any", "virtualnetwork"})
"""Prefixes that match every address of a flow inside the cluster's network (see above)."""

PROTOCOLS: dict[str, Ranges] = {
    "*": ALL_PROTOCOLS,
    "any": ALL_PROTOCOLS,
    "tcp": ((6, 6),),
    "udp": ((17, 17),),
    "icmp": ((1, 1), (58, 58)),
    "esp": ((50, 50),),
    "ah": ((51, 51),),
}
"""securityRules.protocol values (IANA numbers; Icmp covers ICMP and ICMPv6)."""


class UnreadableRule(ValueError):
    """A rule value that does not parse (an address prefix, a port range or a protocol)."""


# -- interval sets ------------------------------------------------------------------------


def _normalised(intervals: Iterable[Interval]) -> Ranges:
    merged: list[list[int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return tuple((low, high) for low, high in merged)


def _intersection(first: Ranges, second: Ranges) -> Ranges:
    result = []
    for low, high in first:
        for other_low, other_high in second:
            if max(low, other_low) <= min(high, other_high):
                result.append((max(low, other_low), min(high, other_high)))
    return _normalised(result)


def _difference(first: Ranges, second: Ranges) -> Ranges:
    result = list(first)
    for cut_low, cut_high in second:
        kept = []
        for low, high in result:
            if cut_high < low or cut_low > high:
                kept.append((low, high))
                continue
            if low < cut_low:
                kept.append((low, cut_low - 1))
            if high > cut_high:
                kept.append((cut_high + 1, high))
        result = kept
    return _normalised(result)


def _box_intersection(first: Box, second: Box) -> Box | None:
    parts = tuple(_intersection(a, b) for a, b in zip(first, second, strict=True))
    return None if any(not part for part in parts) else parts  # type: ignore[return-value]


def _box_difference(first: Box, second: Box) -> list[Box]:
    """``first`` minus ``second`` as disjoint boxes: piece i keeps dimensions before i inside
    ``second``, dimension i outside it, and the later dimensions whole."""
    inside = [_intersection(a, b) for a, b in zip(first, second, strict=True)]
    if any(not part for part in inside):
        return [first]
    pieces: list[Box] = []
    for index in range(len(first)):
        outside = _difference(first[index], second[index])
        if outside:
            pieces.append((*inside[:index], outside, *first[index + 1 :]))  # type: ignore[arg-type]
    return pieces


# -- rule values --------------------------------------------------------------------------


def network_ranges(networks: Iterable[str]) -> Ranges:
    """The address line ranges of CIDR texts (host bits allowed, as ARM accepts them)."""
    intervals = []
    for text in networks:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError as exc:
            raise UnreadableRule(f"{text!r} is not an address range") from exc
        offset = 0 if network.version == 4 else IPV6_OFFSET
        intervals.append(
            (offset + int(network.network_address), offset + int(network.broadcast_address))
        )
    return _normalised(intervals)


def address_ranges(prefixes: Sequence[str]) -> Ranges:
    """What a rule's address prefixes match among node and pod addresses (module doc)."""
    if not prefixes:
        return ALL_ADDRESSES
    intervals: list[Interval] = []
    for prefix in prefixes:
        text = prefix.strip()
        if text.lower() in EVERY_ADDRESS_TAGS:
            return ALL_ADDRESSES
        if text[:1].isdigit() or ":" in text:
            intervals.extend(network_ranges([text]))
        # any other service tag matches no node or pod address
    return _normalised(intervals)


def port_ranges(values: Sequence[str]) -> Ranges:
    """``*``, ``80`` or ``1000-2000`` texts; none means every port."""
    if not values:
        return ALL_PORTS
    intervals = []
    for value in values:
        text = value.strip()
        if text in {"*", ""} or text.lower() == "any":
            return ALL_PORTS
        low, dash, high = text.partition("-")
        try:
            interval = (int(low), int(high if dash else low))
        except ValueError as exc:
            raise UnreadableRule(f"{value!r} is not a port range") from exc
        if not 0 <= interval[0] <= interval[1] <= 65535:
            raise UnreadableRule(f"{value!r} is not a port range")
        intervals.append(interval)
    return _normalised(intervals)


def protocol_ranges(protocol: str) -> Ranges:
    ranges = PROTOCOLS.get((protocol or "*").strip().lower())
    if ranges is None:
        raise UnreadableRule(f"{protocol!r} is not an NSG protocol")
    return ranges


def uses_application_security_groups(rule: inventory_pb2.SecurityRule) -> bool:
    return bool(
        rule.source_application_security_group_ids
        or rule.destination_application_security_group_ids
    )


def rule_box(rule: inventory_pb2.SecurityRule) -> Box:
    """What the rule matches; an application security group side counts as every address
    (only :func:`evaluate` uses that, to see whether such a rule could matter)."""
    source = list(rule.source_address_prefixes)
    destination = list(rule.destination_address_prefixes)
    return (
        ALL_ADDRESSES if rule.source_application_security_group_ids else address_ranges(source),
        ALL_ADDRESSES
        if rule.destination_application_security_group_ids
        else address_ranges(destination),
        protocol_ranges(rule.protocol),
        port_ranges(list(rule.source_port_ranges)),
        port_ranges(list(rule.destination_port_ranges)),
    )


# -- flows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """Traffic the cluster needs, on every protocol and port (A-OVC)."""

    name: str
    source: Ranges
    destination: Ranges

    @property
    def box(self) -> Box:
        return (self.source, self.destination, ALL_PROTOCOLS, ALL_PORTS, ALL_PORTS)


@dataclass(frozen=True)
class FlowVerdict:
    """One flow through one direction of an NSG."""

    flow: Flow
    direction: str
    denials: tuple[inventory_pb2.SecurityRule, ...] = ()
    """Deny rules that decide part of the flow, in priority order."""
    undecidable: inventory_pb2.SecurityRule | None = None
    """The first rule with application security groups that could decide part of what was
    still undecided: the walk stopped there."""


def rules_by_priority(
    nsg: inventory_pb2.NetworkSecurityGroup, direction: str
) -> list[inventory_pb2.SecurityRule]:
    """Custom and default rules of one direction (Inbound/Outbound), lowest priority first."""
    wanted = direction.lower()
    rules = [*nsg.security_rules, *nsg.default_security_rules]
    return sorted(
        (rule for rule in rules if rule.direction.lower() == wanted), key=lambda r: r.priority
    )


def evaluate(
    flow: Flow, rules: Sequence[inventory_pb2.SecurityRule], direction: str
) -> FlowVerdict:
    """Walk ``rules`` (one direction, by priority) over ``flow``; raises UnreadableRule."""
    undecided: list[Box] = [flow.box]
    denials: list[inventory_pb2.SecurityRule] = []
    for rule in rules:
        if not undecided:
            break
        box = rule_box(rule)
        touched = any(_box_intersection(part, box) is not None for part in undecided)
        if not touched:
            continue
        if uses_application_security_groups(rule):
            return FlowVerdict(flow, direction, tuple(denials), undecidable=rule)
        if rule.access.lower() == "deny":
            denials.append(rule)
        undecided = [piece for part in undecided for piece in _box_difference(part, box)]
    # What no rule decided passes: Azure's default rules (always there, whether or not the
    # payload lists them) allow VirtualNetwork to VirtualNetwork before their deny-all.
    return FlowVerdict(flow, direction, tuple(denials))
