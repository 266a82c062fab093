"""IP capacity of the subnets a cluster uses: what it needs at max scale + surge, what it uses.

Sources are the keys of domain.md §0; the formulas are those of §1.3, §1.4 and
§1.11. Each network model says how many IPs one node takes from each subnet
role (:data:`IPS_PER_NODE`); the sums over pools are the same for every model,
so completing a model is one entry there.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from netaudit.collector.analysis.network_model import (
    STATIC_BLOCK,
    NetworkModel,
    model_from_inventory,
)
from netaudit.v1 import inventory_pb2, report_pb2

RESERVED_IPS_PER_SUBNET = 5
"""Azure keeps network, gateway, two DNS and the broadcast address (VNETFAQ, A-OVC)."""

SURGE_PERCENT_DEFAULT_FROM = (1, 27)
"""Pools on Kubernetes >= 1.27 default to maxSurge 10%, older ones to 1 (Azure/AKS#3529)."""

DEFAULT_SURGE_PERCENT = Fraction(10)
LEGACY_DEFAULT_SURGE = 1
POD_SUBNET_BATCH = 16
"""Dynamic pod-subnet nodes take IPs in batches of 16; static block in /28 blocks (A-DYN, A-PSN)."""

INTERNAL_LB_SUBNET_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"


class SubnetRole(StrEnum):
    NODE = "node"
    POD = "pod"


def usable_ips(prefix_length: int) -> int:
    """IPs a subnet of this IPv4 prefix length offers: ``2^(32-p) - 5`` (/24 = 251).

    Source: VNETFAQ (Azure reserves 5 addresses per subnet), A-OVC ("/24 leaves 251").
    """
    if not 0 <= prefix_length <= 32:
        raise ValueError(f"IPv4 prefix length must be 0..32, got {prefix_length}")
    return max((1 << (32 - prefix_length)) - RESERVED_IPS_PER_SUBNET, 0)


def ipv4_prefix_lengths(address_prefixes: Iterable[str]) -> list[int]:
    """Prefix lengths of the IPv4 ranges among ``address_prefixes`` (IPv6 ones are skipped)."""
    lengths = []
    for prefix in address_prefixes:
        network = ipaddress.ip_network(prefix, strict=False)
        if network.version == 4:
            lengths.append(network.prefixlen)
    return lengths


def subnet_usable_ips(subnet: inventory_pb2.Subnet) -> int:
    """Usable IPv4 addresses over all the subnet's prefixes (VNETFAQ)."""
    return sum(usable_ips(length) for length in ipv4_prefix_lengths(subnet.address_prefixes))


class PoolCapacityUnknown(ValueError):
    """A pool's N or S cannot be known from what ARM returned (the message says why)."""


def pool_node_count(pool: inventory_pb2.AgentPool) -> int:
    """N: ``maxCount`` when the autoscaler is on, else ``count`` (domain.md §1.3, SUP-ISS:
    "If Autoscaler is enabled, the max-count from each nodepool is counted").

    An autoscaling pool without ``maxCount`` has no known maximum:
    :class:`PoolCapacityUnknown`, never a guess from today's ``count``.
    """
    if pool.enable_auto_scaling:
        if not pool.HasField("max_count"):
            raise PoolCapacityUnknown(
                f"pool {pool.name} autoscales but ARM gave no maxCount, so its maximum size "
                "is unknown"
            )
        return pool.max_count
    return pool.count


def pool_surge(pool: inventory_pb2.AgentPool, cluster_version: str = "") -> int:
    """S: the surge nodes an upgrade adds to the pool (domain.md §1.4, §1.11).

    ``maxSurge`` as an integer is taken as is ("0" gives 0); a percentage is of N,
    rounded up (SDK ``AgentPoolUpgradeSettings``: "fractional rounded up"). Unset,
    it is 10% for pools on Kubernetes >= 1.27 and 1 before (Azure/AKS#3529); the
    pool's version stands in for the version it was created on, and an unknown
    version takes the 10% default, which is never smaller for N >= 1.
    """
    nodes = pool_node_count(pool)
    text = pool.max_surge.strip()
    if not text:
        version = _minor_version(pool.orchestrator_version) or _minor_version(cluster_version)
        if version is not None and version < SURGE_PERCENT_DEFAULT_FROM:
            return LEGACY_DEFAULT_SURGE
        return _percent_of(DEFAULT_SURGE_PERCENT, nodes)
    if text.endswith("%"):
        return _percent_of(_number(text[:-1], pool), nodes)
    return math.ceil(_number(text, pool))


def _percent_of(percent: Fraction, nodes: int) -> int:
    return math.ceil(percent * nodes / 100)


def _number(text: str, pool: inventory_pb2.AgentPool) -> Fraction:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise PoolCapacityUnknown(
            f"pool {pool.name}: maxSurge {pool.max_surge!r} is not a number or percentage"
        ) from exc
    if value < 0:
        raise PoolCapacityUnknown(f"pool {pool.name}: maxSurge {pool.max_surge!r} is negative")
    return value


_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)")


def _minor_version(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _node_subnet_ips_legacy(pool: inventory_pb2.AgentPool) -> int:
    """Azure CNI node subnet: each node pre-reserves maxPods IPs + its own (A-LEG, A-IPP, A-UPC)."""
    return pool.max_pods + 1


def _one_ip(pool: inventory_pb2.AgentPool) -> int:
    """Overlay, kubenet, pod subnet: only the node's own IP is in the node subnet (A-OVC, §1.11)."""
    return 1


def _pod_subnet_dynamic(pool: inventory_pb2.AgentPool) -> int:
    """Dynamic pod subnet: at least one batch of 16 per node (A-DYN)."""
    return POD_SUBNET_BATCH


def _pod_subnet_static(pool: inventory_pb2.AgentPool) -> int:
    """Static block: ``16 * ceil((maxPods + 1) / 16)`` per node (A-PSN table)."""
    return POD_SUBNET_BATCH * math.ceil((pool.max_pods + 1) / POD_SUBNET_BATCH)


IPS_PER_NODE: Mapping[tuple[NetworkModel, SubnetRole], Callable[[inventory_pb2.AgentPool], int]] = {
    (NetworkModel.AZURE_NODE_SUBNET, SubnetRole.NODE): _node_subnet_ips_legacy,
    (NetworkModel.AZURE_OVERLAY, SubnetRole.NODE): _one_ip,
    (NetworkModel.KUBENET, SubnetRole.NODE): _one_ip,
    (NetworkModel.AZURE_POD_SUBNET_DYNAMIC, SubnetRole.NODE): _one_ip,
    (NetworkModel.AZURE_POD_SUBNET_STATIC, SubnetRole.NODE): _one_ip,
    (NetworkModel.AZURE_POD_SUBNET_DYNAMIC, SubnetRole.POD): _pod_subnet_dynamic,
    (NetworkModel.AZURE_POD_SUBNET_STATIC, SubnetRole.POD): _pod_subnet_static,
}
"""IPs one node (or surge node) takes from a subnet of the given role, per model."""


@dataclass(frozen=True)
class PoolTerm:
    """One pool's share of a subnet: (N + S) * IPs per node."""

    pool: str
    nodes: int
    surge: int
    ips_per_node: int

    @property
    def ips(self) -> int:
        return (self.nodes + self.surge) * self.ips_per_node

    def formula(self) -> str:
        return f"({self.nodes}+{self.surge})*{self.ips_per_node}={self.ips}"


@dataclass(frozen=True)
class SubnetRequirement:
    """IPs a cluster needs from one subnet at max scale plus upgrade surge, and what it has.

    ``unknown_pools`` maps a pool whose N or S cannot be known to the reason; its
    term is missing, so ``required`` is then a lower bound.
    """

    subnet_id: str
    role: SubnetRole
    address_prefixes: tuple[str, ...]
    usable: int
    pool_terms: tuple[PoolTerm, ...]
    other_consumers: Mapping[str, int] = field(default_factory=dict)
    unknown_pools: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> int:
        return sum(t.ips for t in self.pool_terms) + sum(self.other_consumers.values())

    @property
    def shortfall(self) -> int:
        return max(self.required - self.usable, 0)

    @property
    def surge_ips(self) -> int:
        """IPs the upgrade surge alone takes: Σ S·IPs-per-node (CNI-003)."""
        return sum(t.surge * t.ips_per_node for t in self.pool_terms)

    @property
    def complete(self) -> bool:
        return not self.unknown_pools


def pool_model(pool: inventory_pb2.AgentPool, cluster_model: NetworkModel) -> NetworkModel:
    """The IPAM model one pool runs: a pod-subnet cluster may mix static-block and dynamic
    pools, each sized by its own ``podIPAllocationMode`` (A-PSN: one mode per subnet,
    not per cluster); every other model is cluster-wide."""
    if cluster_model in (
        NetworkModel.AZURE_POD_SUBNET_DYNAMIC,
        NetworkModel.AZURE_POD_SUBNET_STATIC,
    ):
        if not pool.pod_subnet_id:
            return NetworkModel.AZURE_NODE_SUBNET
        if pool.pod_ip_allocation_mode.lower() == STATIC_BLOCK:
            return NetworkModel.AZURE_POD_SUBNET_STATIC
        return NetworkModel.AZURE_POD_SUBNET_DYNAMIC
    return cluster_model


def subnet_requirements(
    inventory: inventory_pb2.ClusterInventory,
    model: NetworkModel | None = None,
    role: SubnetRole = SubnetRole.NODE,
    report: report_pb2.Report | None = None,
) -> list[SubnetRequirement]:
    """Per subnet of ``role``: Σ_pool (N+S)·IPs-per-node + other consumers (domain.md §1.11).

    ``model`` defaults to the one the inventory's network profile names; each pool
    is sized by :func:`pool_model`. A pool whose N or S is unknown goes to
    ``unknown_pools`` with the reason, and the other pools are still summed.

    Only subnets ARM returned are sized (pools on the AKS-managed VNet have no
    ``vnetSubnetID`` and are skipped); models without an :data:`IPS_PER_NODE`
    entry give nothing. Other consumers of the node subnet (A-IPP, A-PRV): the
    private API server endpoint (in the first pool's subnet), other private
    endpoints ARM lists on the subnet, and internal load-balancer frontends the
    agent saw (each takes an IP of the cluster subnet unless annotated to another).
    """
    if model is None:
        model = model_from_inventory(inventory).model
    subnets = {s.id.lower(): s for s in inventory.subnets}
    pools_by_subnet: dict[str, list[inventory_pb2.AgentPool]] = {}
    for pool in inventory.agent_pools:
        subnet_id = pool.vnet_subnet_id if role is SubnetRole.NODE else pool.pod_subnet_id
        if subnet_id and (pool_model(pool, model), role) in IPS_PER_NODE:
            pools_by_subnet.setdefault(subnet_id.lower(), []).append(pool)

    requirements = []
    for key, pools in pools_by_subnet.items():
        subnet = subnets.get(key)
        if subnet is None or not ipv4_prefix_lengths(subnet.address_prefixes):
            continue
        terms: list[PoolTerm] = []
        unknown: dict[str, str] = {}
        for pool in pools:
            try:
                terms.append(_pool_term(pool, model, role, inventory.kubernetes_version))
            except PoolCapacityUnknown as exc:
                unknown[pool.name] = str(exc)
        others = _other_consumers(inventory, subnet, report) if role is SubnetRole.NODE else {}
        requirements.append(
            SubnetRequirement(
                subnet_id=subnet.id,
                role=role,
                address_prefixes=tuple(subnet.address_prefixes),
                usable=subnet_usable_ips(subnet),
                pool_terms=tuple(terms),
                other_consumers=others,
                unknown_pools=unknown,
            )
        )
    return requirements


def _pool_term(
    pool: inventory_pb2.AgentPool, model: NetworkModel, role: SubnetRole, cluster_version: str
) -> PoolTerm:
    per_node = IPS_PER_NODE[(pool_model(pool, model), role)]
    return PoolTerm(
        pool=pool.name,
        nodes=pool_node_count(pool),
        surge=pool_surge(pool, cluster_version),
        ips_per_node=per_node(pool),
    )


def _other_consumers(
    inventory: inventory_pb2.ClusterInventory,
    subnet: inventory_pb2.Subnet,
    report: report_pb2.Report | None,
) -> dict[str, int]:
    others: dict[str, int] = {}
    api_endpoint = 0
    if _is_first_pool_subnet(inventory, subnet) and _has_api_private_endpoint(inventory):
        api_endpoint = 1
        others["api_server_private_endpoint"] = 1
    private_endpoints = max(subnet.private_endpoint_count - api_endpoint, 0)
    if private_endpoints:
        others["private_endpoints"] = private_endpoints
    if report is not None and _is_first_pool_subnet(inventory, subnet):
        frontends = internal_load_balancer_frontends(report)
        if frontends:
            others["internal_load_balancer_frontends"] = frontends
    return others


def _is_first_pool_subnet(
    inventory: inventory_pb2.ClusterInventory, subnet: inventory_pb2.Subnet
) -> bool:
    if not inventory.agent_pools:
        return False
    return inventory.agent_pools[0].vnet_subnet_id.lower() == subnet.id.lower()


def _has_api_private_endpoint(inventory: inventory_pb2.ClusterInventory) -> bool:
    """A private cluster reaches its API server through a private endpoint in the first
    pool's subnet (A-PRV); with API Server VNet Integration it is an ILB in its own
    delegated subnet instead (A-VNI)."""
    access = inventory.api_server_access
    return access.enable_private_cluster and not access.enable_vnet_integration


def internal_load_balancer_frontends(report: report_pb2.Report) -> int:
    """Internal LoadBalancer Services taking an IP of the cluster subnet (A-IPP).

    Services sharing an address count once; one without an address yet counts
    one (it will take one); those annotated to another subnet count none.
    """
    addresses: set[str] = set()
    pending = 0
    for service in report.load_balancer_services:
        if not service.internal or service.annotations.get(INTERNAL_LB_SUBNET_ANNOTATION):
            continue
        if service.load_balancer_addresses:
            addresses.update(service.load_balancer_addresses)
        else:
            pending += 1
    return len(addresses) + pending


@dataclass(frozen=True)
class SubnetUtilisation:
    """One ``virtualNetworks/usages`` row for a subnet the cluster uses (SDK-NET)."""

    subnet_id: str
    role: SubnetRole
    used: int
    limit: int

    @property
    def ratio(self) -> float:
        return self.used / self.limit


def subnet_utilisation(inventory: inventory_pb2.ClusterInventory) -> list[SubnetUtilisation]:
    """used/limit for every node and pod subnet of the cluster's pools (SDK-NET
    ``VirtualNetworks.list_usage``: ``currentValue`` IPs in use of ``limit``).

    Rows with a limit <= 0 (ARM reports -1 for e.g. GatewaySubnet) are skipped.
    """
    usages = {
        usage.subnet_id.lower(): usage
        for vnet in inventory.virtual_networks
        for usage in vnet.subnet_usages
    }
    seen: set[str] = set()
    result = []
    for subnet_id, role in _pool_subnets(inventory):
        key = subnet_id.lower()
        usage = usages.get(key)
        if key in seen or usage is None or usage.limit <= 0:
            continue
        seen.add(key)
        result.append(
            SubnetUtilisation(
                subnet_id=subnet_id,
                role=role,
                used=int(usage.current_value),
                limit=int(usage.limit),
            )
        )
    return result


def _pool_subnets(inventory: inventory_pb2.ClusterInventory) -> Iterable[tuple[str, SubnetRole]]:
    for pool in inventory.agent_pools:
        if pool.vnet_subnet_id:
            yield pool.vnet_subnet_id, SubnetRole.NODE
        if pool.pod_subnet_id:
            yield pool.pod_subnet_id, SubnetRole.POD
