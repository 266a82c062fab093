"""Capacity of every address range a cluster uses, in one shape for every IPAM mode.

A range is a node subnet, a pod subnet, a pod CIDR (overlay, kubenet), a
service CIDR or a VNet. For each: what it offers, what is used now, what the
cluster needs at every pool's autoscaler maximum plus upgrade surge, and the
headroom between them (domain.md §1.1, §1.3-§1.8, §1.11). Pod CIDRs are
counted in nodes (each node takes a /24 of it, A-OVC, A-KUB); every other
range in addresses. Growth planning (:func:`plan_growth`) answers "can this
cluster grow to N nodes?" and the smallest range that would fit.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from netaudit.collector.analysis.ip_capacity import (
    IPS_PER_NODE,
    RESERVED_IPS_PER_SUBNET,
    PoolCapacityUnknown,
    SubnetRole,
    pool_model,
    pool_node_count,
    pool_surge,
    subnet_requirements,
)
from netaudit.collector.analysis.network_model import NetworkModel, model_from_inventory
from netaudit.v1 import inventory_pb2, report_pb2

KUBENET_MAX_NODES = 400
"""Azure route tables hold 400 routes, one per kubenet node (A-KUB, A-OVC)."""
NODE_POD_CIDR_PREFIX = 24
"""Overlay and kubenet give each node a /24 of the pod CIDR (A-OVC, A-KUB)."""
VNET_PRIVATE_IP_LIMIT = 65_536
"""Configured private IPs per VNet (A-IPP); static-block /28s count one each (A-PSN)."""


class RangeKind(StrEnum):
    NODE_SUBNET = "node_subnet"
    POD_SUBNET = "pod_subnet"
    POD_CIDR = "pod_cidr"
    SERVICE_CIDR = "service_cidr"
    VNET = "vnet"


class Unit(StrEnum):
    ADDRESSES = "addresses"
    NODES = "nodes"


@dataclass(frozen=True)
class RangeCapacity:
    """One range: ``capacity``, ``used`` now (None when nothing measures it) and
    ``required`` at max scale plus surge (None when a pool's size is unknown, with the
    reasons in ``unknown``), in ``unit``."""

    kind: RangeKind
    range_id: str
    """The subnet or VNet ARM id (lower-cased), or the CIDR of a pod or service range."""
    ipam_mode: str
    unit: Unit
    capacity: int
    used: int | None
    required: int | None
    unknown: tuple[str, ...] = field(default=())

    @property
    def utilisation(self) -> float | None:
        if self.used is None or self.capacity <= 0:
            return None
        return self.used / self.capacity

    @property
    def headroom(self) -> int | None:
        """What is left at max scale plus surge (negative: the shortfall)."""
        return None if self.required is None else self.capacity - self.required


def cluster_ranges(
    inventory: inventory_pb2.ClusterInventory, report: report_pb2.Report | None = None
) -> list[RangeCapacity]:
    """Every range of one cluster: its node and pod subnets, pod and service CIDRs, VNets."""
    model = model_from_inventory(inventory).model
    return [
        *_subnet_ranges(inventory, model, report),
        *pod_cidr_ranges(inventory, model, report),
        *service_cidr_ranges(inventory, report),
        *vnet_ranges(inventory),
    ]


def _subnet_ranges(
    inventory: inventory_pb2.ClusterInventory,
    model: NetworkModel,
    report: report_pb2.Report | None,
) -> list[RangeCapacity]:
    used = {
        usage.subnet_id.lower(): int(usage.current_value)
        for vnet in inventory.virtual_networks
        for usage in vnet.subnet_usages
        if usage.limit > 0
    }
    ranges = []
    for role, kind in (
        (SubnetRole.NODE, RangeKind.NODE_SUBNET),
        (SubnetRole.POD, RangeKind.POD_SUBNET),
    ):
        for requirement in subnet_requirements(inventory, model, role, report):
            key = requirement.subnet_id.lower()
            ranges.append(
                RangeCapacity(
                    kind=kind,
                    range_id=key,
                    ipam_mode=_subnet_mode(inventory, model, key, role),
                    unit=Unit.ADDRESSES,
                    capacity=requirement.usable,
                    used=used.get(key),
                    required=requirement.required if requirement.complete else None,
                    unknown=tuple(sorted(requirement.unknown_pools.values())),
                )
            )
    return ranges


def _subnet_mode(
    inventory: inventory_pb2.ClusterInventory, model: NetworkModel, key: str, role: SubnetRole
) -> str:
    modes = {
        str(pool_model(pool, model))
        for pool in inventory.agent_pools
        if (pool.vnet_subnet_id if role is SubnetRole.NODE else pool.pod_subnet_id).lower() == key
    }
    return ",".join(sorted(modes))


def nodes_fitting_pod_cidr(prefix_length: int, model: NetworkModel) -> int:
    """Nodes one IPv4 pod CIDR holds: 2^(24 - prefix) /24s; kubenet stops at 400 routes."""
    if not 0 <= prefix_length <= NODE_POD_CIDR_PREFIX:
        return 0
    nodes = 1 << (NODE_POD_CIDR_PREFIX - prefix_length)
    return min(nodes, KUBENET_MAX_NODES) if model is NetworkModel.KUBENET else nodes


def pod_cidr_ranges(
    inventory: inventory_pb2.ClusterInventory,
    model: NetworkModel,
    report: report_pb2.Report | None = None,
) -> list[RangeCapacity]:
    """Overlay and kubenet pod CIDRs in nodes: capacity, nodes holding a /24 now (the
    agent's node pod CIDRs), and Σ(N+S) over every pool."""
    if model not in (NetworkModel.AZURE_OVERLAY, NetworkModel.KUBENET):
        return []
    required, unknown = _total_nodes_with_surge(inventory)
    ranges = []
    for cidr in inventory.network_profile.pod_cidrs:
        network = _ipv4(cidr)
        if network is None:
            continue
        ranges.append(
            RangeCapacity(
                kind=RangeKind.POD_CIDR,
                range_id=str(network),
                ipam_mode=str(model),
                unit=Unit.NODES,
                capacity=nodes_fitting_pod_cidr(network.prefixlen, model),
                used=_nodes_in(network, report),
                required=None if unknown else required,
                unknown=tuple(unknown),
            )
        )
    return ranges


def _total_nodes_with_surge(
    inventory: inventory_pb2.ClusterInventory,
) -> tuple[int, list[str]]:
    total, unknown = 0, []
    for pool in inventory.agent_pools:
        try:
            total += pool_node_count(pool) + pool_surge(pool, inventory.kubernetes_version)
        except PoolCapacityUnknown as exc:
            unknown.append(str(exc))
    return total, unknown


def _nodes_in(network: ipaddress.IPv4Network, report: report_pb2.Report | None) -> int | None:
    if report is None or not report.nodes:
        return None
    return sum(1 for node in report.nodes if any(_within(cidr, network) for cidr in node.pod_cidrs))


def service_cidr_ranges(
    inventory: inventory_pb2.ClusterInventory, report: report_pb2.Report | None = None
) -> list[RangeCapacity]:
    """Service CIDRs: every address is assignable except the network address (the first
    host is kubernetes.default, itself a ClusterIP); used = ClusterIPs inside it."""
    ranges = []
    for cidr in inventory.network_profile.service_cidrs:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            continue
        used = None
        if report is not None and report.HasField("services"):
            used = sum(1 for ip in report.services.cluster_ips if _address_in(ip, network))
        ranges.append(
            RangeCapacity(
                kind=RangeKind.SERVICE_CIDR,
                range_id=str(network),
                ipam_mode="",
                unit=Unit.ADDRESSES,
                capacity=network.num_addresses - 1,
                used=used,
                required=None,
            )
        )
    return ranges


def vnet_ranges(inventory: inventory_pb2.ClusterInventory) -> list[RangeCapacity]:
    """VNets against the 65,536 configured private IP limit: Σ of their subnets' usages."""
    return [
        RangeCapacity(
            kind=RangeKind.VNET,
            range_id=vnet.id.lower(),
            ipam_mode="",
            unit=Unit.ADDRESSES,
            capacity=VNET_PRIVATE_IP_LIMIT,
            used=int(sum(u.current_value for u in vnet.subnet_usages if u.limit > 0)),
            required=None,
        )
        for vnet in inventory.virtual_networks
        if vnet.subnet_usages
    ]


def _ipv4(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None


def _within(cidr: str, network: ipaddress.IPv4Network) -> bool:
    inner = _ipv4(cidr)
    return inner is not None and inner.subnet_of(network)


def _address_in(text: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(text.strip()) in network
    except ValueError:
        return False


# -- growth planning ---------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthPlan:
    """Whether ``nodes`` (plus surge) fit the range, and the smallest one that would."""

    kind: RangeKind
    range_id: str
    nodes: int
    surge: int
    per_node: int
    required: int
    capacity: int
    fits: bool
    smallest_prefix: int | None
    """The longest IPv4 prefix whose range holds ``required`` (None: more than a /8)."""

    def arithmetic(self) -> str:
        if self.kind is RangeKind.POD_CIDR:
            return (
                f"({self.nodes}+{self.surge}) nodes, one /24 each: need {self.required} of "
                f"{self.capacity} /24s"
            )
        return (
            f"({self.nodes}+{self.surge})*{self.per_node}={self.required} IPs against "
            f"{self.capacity} usable"
        )


def smallest_subnet_prefix(required_ips: int) -> int | None:
    """The longest prefix whose usable IPs (2^(32-p) - 5) cover ``required_ips``
    (domain.md §1.3: 1,581 IPs -> /21)."""
    for prefix in range(29, 7, -1):
        if (1 << (32 - prefix)) - RESERVED_IPS_PER_SUBNET >= required_ips:
            return prefix
    return None


def smallest_pod_cidr_prefix(nodes: int) -> int | None:
    """The longest pod CIDR prefix holding ``nodes`` /24s (256 nodes -> /16)."""
    if nodes <= 0:
        return NODE_POD_CIDR_PREFIX
    prefix = NODE_POD_CIDR_PREFIX - math.ceil(math.log2(nodes))
    return prefix if prefix >= 8 else None


def plan_growth(
    inventory: inventory_pb2.ClusterInventory,
    nodes: int,
    *,
    max_pods: int | None = None,
    pool: str | None = None,
) -> list[GrowthPlan]:
    """Can ``pool`` (default: the first) grow to ``nodes`` nodes with ``max_pods`` (default:
    its own), the other pools at their maximum? One plan per range the pool uses."""
    model = model_from_inventory(inventory).model
    chosen = _pool(inventory, pool)
    grown = inventory_pb2.AgentPool()
    grown.CopyFrom(chosen)
    grown.enable_auto_scaling = False
    grown.count = nodes
    if max_pods is not None:
        grown.max_pods = max_pods
    surge = pool_surge(grown, inventory.kubernetes_version)
    plans = []
    for role, kind, subnet_id in (
        (SubnetRole.NODE, RangeKind.NODE_SUBNET, chosen.vnet_subnet_id),
        (SubnetRole.POD, RangeKind.POD_SUBNET, chosen.pod_subnet_id),
    ):
        per_node_of = IPS_PER_NODE.get((pool_model(grown, model), role))
        if not subnet_id or per_node_of is None:
            continue
        plans.append(
            _subnet_plan(inventory, model, role, kind, subnet_id, grown, surge, per_node_of(grown))
        )
    if model in (NetworkModel.AZURE_OVERLAY, NetworkModel.KUBENET):
        plans.extend(_pod_cidr_plans(inventory, model, grown, surge))
    return plans


def _pool(inventory: inventory_pb2.ClusterInventory, name: str | None) -> inventory_pb2.AgentPool:
    if not inventory.agent_pools:
        raise ValueError(f"cluster {inventory.name} has no agent pools in its inventory")
    if name is None:
        return inventory.agent_pools[0]
    for pool in inventory.agent_pools:
        if pool.name.lower() == name.lower():
            return pool
    names = ", ".join(p.name for p in inventory.agent_pools)
    raise ValueError(f"cluster {inventory.name} has no pool {name!r} (its pools: {names})")


def _others_on(
    inventory: inventory_pb2.ClusterInventory,
    model: NetworkModel,
    role: SubnetRole,
    subnet_id: str,
    grown: inventory_pb2.AgentPool,
) -> int:
    """IPs the cluster's other pools on the same subnet need at their maximum."""
    total = 0
    for pool in inventory.agent_pools:
        target = pool.vnet_subnet_id if role is SubnetRole.NODE else pool.pod_subnet_id
        per_node = IPS_PER_NODE.get((pool_model(pool, model), role))
        if pool.name == grown.name or target.lower() != subnet_id.lower() or per_node is None:
            continue
        nodes = pool_node_count(pool) + pool_surge(pool, inventory.kubernetes_version)
        total += nodes * per_node(pool)
    return total


def _subnet_plan(
    inventory: inventory_pb2.ClusterInventory,
    model: NetworkModel,
    role: SubnetRole,
    kind: RangeKind,
    subnet_id: str,
    grown: inventory_pb2.AgentPool,
    surge: int,
    per_node: int,
) -> GrowthPlan:
    subnet = next((s for s in inventory.subnets if s.id.lower() == subnet_id.lower()), None)
    capacity = 0
    if subnet is not None:
        for prefix in subnet.address_prefixes:
            network = _ipv4(prefix)
            if network is not None:
                capacity += max(network.num_addresses - RESERVED_IPS_PER_SUBNET, 0)
    required = (grown.count + surge) * per_node + _others_on(
        inventory, model, role, subnet_id, grown
    )
    return GrowthPlan(
        kind=kind,
        range_id=subnet_id.lower(),
        nodes=grown.count,
        surge=surge,
        per_node=per_node,
        required=required,
        capacity=capacity,
        fits=subnet is not None and required <= capacity,
        smallest_prefix=smallest_subnet_prefix(required),
    )


def _pod_cidr_plans(
    inventory: inventory_pb2.ClusterInventory,
    model: NetworkModel,
    grown: inventory_pb2.AgentPool,
    surge: int,
) -> Iterable[GrowthPlan]:
    others = sum(
        pool_node_count(p) + pool_surge(p, inventory.kubernetes_version)
        for p in inventory.agent_pools
        if p.name != grown.name
    )
    required = grown.count + surge + others
    for cidr in inventory.network_profile.pod_cidrs:
        network = _ipv4(cidr)
        if network is None:
            continue
        capacity = nodes_fitting_pod_cidr(network.prefixlen, model)
        beyond_routes = model is NetworkModel.KUBENET and required > KUBENET_MAX_NODES
        yield GrowthPlan(
            kind=RangeKind.POD_CIDR,
            range_id=str(network),
            nodes=grown.count,
            surge=surge,
            per_node=1,
            required=required,
            capacity=capacity,
            fits=required <= capacity,
            # no pod CIDR lets kubenet pass 400 nodes: its route table is the limit
            smallest_prefix=None if beyond_routes else smallest_pod_cidr_prefix(required),
        )
