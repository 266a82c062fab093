"""Where a cluster's pods and nodes take their addresses, and whether a NetworkPolicy
``ipBlock`` reaches into them (Cilium cannot select pod or node IPs with one, A-CIL).

Ranges come from ARM first (``networkProfile.podCidrs``, the pools' pod and node
subnets) and from the agent's nodes otherwise (their ``podCIDRs``, their internal IPs).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from netaudit.collector.analysis.address_ranges import NamedRange, Network, overlaps
from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.v1 import inventory_pb2, report_pb2


@dataclass
class ClusterRanges:
    """The pod and node ranges found, what could not be found, and texts that do not parse."""

    pods: list[NamedRange] = field(default_factory=list)
    nodes: list[NamedRange] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[NamedRange]:
        return [*self.pods, *self.nodes]


def cluster_ranges(
    inventory: inventory_pb2.ClusterInventory | None,
    report: report_pb2.Report | None,
    model: NetworkModel,
) -> ClusterRanges:
    """Pod ranges: ARM's pod CIDRs and the pools' pod subnets, else the nodes' podCIDRs;
    with Azure CNI on the node subnet pods share the node subnet, which the node ranges
    hold. Node ranges: the pools' node subnets, else the nodes' internal IPs."""
    ranges = ClusterRanges()
    subnets = {s.id.lower(): s for s in inventory.subnets} if inventory is not None else {}
    pools = list(inventory.agent_pools) if inventory is not None else []
    unread: list[str] = []
    if inventory is not None:
        _add(ranges, ranges.pods, inventory.network_profile.pod_cidrs, "pod CIDR")
        for subnet_id in _distinct(p.pod_subnet_id for p in pools):
            _add_subnet(ranges, ranges.pods, subnets, subnet_id, "pod subnet", ranges.unknown)
        for subnet_id in _distinct(p.vnet_subnet_id for p in pools):
            _add_subnet(ranges, ranges.nodes, subnets, subnet_id, "node subnet", unread)
    nodes = [n for n in report.nodes if not n.virtual_kubelet] if report is not None else []
    if not ranges.pods and model is not NetworkModel.AZURE_NODE_SUBNET:
        _add(ranges, ranges.pods, _distinct(c for n in nodes for c in n.pod_cidrs), "node podCIDR")
    # Pools on the AKS-managed VNet name no subnet, and a subnet may not have been read:
    # the nodes' own addresses then stand in for the missing node ranges.
    if unread or not pools or not all(p.vnet_subnet_id for p in pools):
        found = len(ranges.nodes)
        _add(ranges, ranges.nodes, _distinct(ip for n in nodes for ip in n.internal_ips), "node IP")
        if len(ranges.nodes) == found:
            ranges.unknown += unread or ["node ranges (no node subnet read, no node IPs)"]
    if not ranges.pods and model is not NetworkModel.AZURE_NODE_SUBNET:
        ranges.unknown.append("pod ranges (no pod CIDR or pod subnet, no node podCIDRs)")
    return ranges


def reaches(cidr: Network, excepts: Iterable[Network], target: Network) -> bool:
    """Whether the block ``cidr`` minus ``excepts`` shares an address with ``target``."""
    if not overlaps(cidr, target):
        return False
    # Two CIDRs that overlap nest: ``inside`` is their intersection.
    inside = cidr if cidr.num_addresses <= target.num_addresses else target
    cut = sorted(
        (e for e in excepts if overlaps(e, inside)),
        key=lambda e: (int(e.network_address), e.prefixlen),
    )
    outermost: list[Network] = []
    for network in cut:
        if network.num_addresses >= inside.num_addresses:
            return False  # an except holds the whole intersection
        if not (outermost and overlaps(outermost[-1], network)):
            outermost.append(network)
    return sum(n.num_addresses for n in outermost) < inside.num_addresses


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _add(ranges: ClusterRanges, into: list[NamedRange], values: Iterable[str], what: str) -> None:
    for value in values:
        try:
            into.append(NamedRange(ipaddress.ip_network(value.strip(), strict=False), what))
        except ValueError:
            ranges.invalid.append(f"{value} ({what})")


def _add_subnet(
    ranges: ClusterRanges,
    into: list[NamedRange],
    subnets: dict[str, inventory_pb2.Subnet],
    subnet_id: str,
    role: str,
    unknown: list[str],
) -> None:
    subnet = subnets.get(subnet_id.lower())
    if subnet is None:
        unknown.append(f"{role} {subnet_id.rstrip('/').rsplit('/', 1)[-1]} (not read)")
        return
    _add(ranges, into, subnet.address_prefixes, f"{role} {subnet.name}")
