"""Fleet claims: the compact projection of what a cluster uses that others may share.

Written when a cluster's inventory or report is stored, so the fleet-wide step
of a scan reads a few small rows per cluster instead of every report: node and
pod subnets with their requirement terms (CNI-001/003/008 sum them across
clusters, CNI-010 compares allocation modes), route tables (KUB-003, A-KUB:
never shared), and ExternalDNS owner ids with their domain filters (EDN-001).
Keys are lower-cased: ARM is inconsistent about casing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from netaudit.collector.analysis.ip_capacity import (
    SubnetRequirement,
    SubnetRole,
    subnet_requirements,
)
from netaudit.collector.analysis.network_model import NetworkModel, model_from_inventory
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

DEFAULT_TXT_OWNER_ID = "default"
"""ExternalDNS ``--txt-owner-id`` when the flag is not given (EDNS flags.md)."""

SUBNET = "subnet"
ROUTE_TABLE = "route_table"
EXTERNAL_DNS = "external_dns"
CLAIM_KINDS = (SUBNET, ROUTE_TABLE, EXTERNAL_DNS)


def cluster_key(arm_resource_id: str) -> str:
    """The key a cluster has everywhere: its ARM resource id, lower-cased."""
    return arm_resource_id.strip().lower()


def pool_subnet_ids(inventory: inventory_pb2.ClusterInventory) -> set[str]:
    """The node and pod subnets of the cluster's pools, lower-cased."""
    return {
        subnet_id.lower()
        for pool in inventory.agent_pools
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id)
        if subnet_id
    }


def claim_kind(claim: audit_pb2.FleetClaim) -> str:
    kind = claim.WhichOneof("claim")
    if kind is None:
        raise ValueError("a fleet claim without a subnet, route table or ExternalDNS part")
    return kind


def claim_resource(claim: audit_pb2.FleetClaim) -> str:
    """What clusters share when their claims name the same value (the grouping key)."""
    kind = claim_kind(claim)
    if kind == SUBNET:
        return claim.subnet.subnet_id
    if kind == ROUTE_TABLE:
        return claim.route_table.route_table_id
    return claim.external_dns.owner_id


def inventory_claims(inventory: inventory_pb2.ClusterInventory) -> list[audit_pb2.FleetClaim]:
    """The subnets and route tables a cluster's inventory says it uses."""
    key = cluster_key(inventory.arm_resource_id)
    model = model_from_inventory(inventory).model
    free = _free_ips(inventory)
    claims = [
        audit_pb2.FleetClaim(
            cluster_key=key,
            cluster_name=inventory.name,
            subnet=_subnet_claim(requirement, model, inventory, free),
        )
        for role in (SubnetRole.NODE, SubnetRole.POD)
        for requirement in subnet_requirements(inventory, model, role)
    ]
    claims.extend(
        audit_pb2.FleetClaim(cluster_key=key, cluster_name=inventory.name, route_table=table)
        for table in _route_tables(inventory)
    )
    return claims


def report_claims(report: report_pb2.Report) -> list[audit_pb2.FleetClaim]:
    """The ExternalDNS registries a cluster's agent saw."""
    key = cluster_key(report.cluster.arm_resource_id)
    claims = []
    for instance in report.external_dns.instances:
        workload = instance.workload
        claims.append(
            audit_pb2.FleetClaim(
                cluster_key=key,
                cluster_name=report.cluster.name,
                external_dns=audit_pb2.ExternalDnsClaim(
                    owner_id=(instance.txt_owner_id or DEFAULT_TXT_OWNER_ID).lower(),
                    domain_filters=sorted({d.strip(".").lower() for d in instance.domain_filters}),
                    provider=instance.provider,
                    instance=f"{workload.namespace}/{workload.name}",
                ),
            )
        )
    return claims


def _subnet_claim(
    requirement: SubnetRequirement,
    model: NetworkModel,
    inventory: inventory_pb2.ClusterInventory,
    free: dict[str, int],
) -> audit_pb2.SubnetClaim:
    modes = {p.name: p.pod_ip_allocation_mode for p in inventory.agent_pools}
    claim = audit_pb2.SubnetClaim(
        subnet_id=requirement.subnet_id.lower(),
        role=str(requirement.role),
        network_model=str(model),
        address_prefixes=list(requirement.address_prefixes),
        usable=requirement.usable,
        pools=[
            audit_pb2.PoolDemand(
                pool=term.pool,
                nodes=term.nodes,
                surge=term.surge,
                ips_per_node=term.ips_per_node,
                pod_ip_allocation_mode=modes.get(term.pool, ""),
            )
            for term in requirement.pool_terms
        ],
        unknown_pools=sorted(requirement.unknown_pools.values()),
    )
    if claim.subnet_id in free:
        claim.free = free[claim.subnet_id]
    # Pools whose size is unknown still name their allocation mode (CNI-010).
    for pool in requirement.unknown_pools:
        claim.pools.add(pool=pool, pod_ip_allocation_mode=modes.get(pool, ""))
    return claim


def _free_ips(inventory: inventory_pb2.ClusterInventory) -> dict[str, int]:
    """Subnet id -> limit - currentValue from the VNets' usages (rows with a limit only)."""
    return {
        usage.subnet_id.lower(): int(usage.limit - usage.current_value)
        for vnet in inventory.virtual_networks
        for usage in vnet.subnet_usages
        if usage.limit > 0
    }


def _route_tables(inventory: inventory_pb2.ClusterInventory) -> Iterator[audit_pb2.RouteTableClaim]:
    """Route tables on the subnets the cluster's pools use (as ARM returned the subnets)."""
    used = pool_subnet_ids(inventory)
    tables: dict[str, list[str]] = {}
    for subnet in inventory.subnets:
        if subnet.id.lower() in used and subnet.route_table_id:
            tables.setdefault(subnet.route_table_id.lower(), []).append(subnet.id.lower())
    for table_id, subnet_ids in sorted(tables.items()):
        yield audit_pb2.RouteTableClaim(
            route_table_id=table_id,
            network_plugin=inventory.network_profile.network_plugin.lower(),
            subnet_ids=sorted(subnet_ids),
        )


def overlap_components(claims: Iterable[audit_pb2.FleetClaim]) -> list[list[int]]:
    """Groups of ExternalDNS claims (of one owner id) linked by overlapping domains.

    Two instances overlap when one has no domain filter (it may write any zone it
    can reach), or a filter of one equals or is a parent of a filter of the
    other. Every member of a returned group overlaps directly with at least one
    other member; groups of one are left out. Union-find over domains and their
    parents: linear in claims times labels, never a pairwise comparison.
    """
    items = list(claims)
    parent = list(range(len(items)))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    first_at: dict[str, int] = {}
    unfiltered = [i for i, claim in enumerate(items) if not claim.external_dns.domain_filters]
    for index, claim in enumerate(items):
        for domain in claim.external_dns.domain_filters:
            if domain in first_at:
                union(index, first_at[domain])
            else:
                first_at[domain] = index
    for index, claim in enumerate(items):
        for domain in claim.external_dns.domain_filters:
            for ancestor in _parents(domain):
                if ancestor in first_at:
                    union(index, first_at[ancestor])
    if unfiltered:
        for index in range(len(items)):
            union(index, unfiltered[0])
    components: dict[int, list[int]] = {}
    for index in range(len(items)):
        components.setdefault(find(index), []).append(index)
    return [members for members in components.values() if len(members) > 1]


def _parents(domain: str) -> Iterator[str]:
    labels = domain.split(".")
    for start in range(1, len(labels)):
        yield ".".join(labels[start:])
