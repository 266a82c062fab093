"""Virtual node rules (domain.md §5 VND-*)."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis.ip_capacity import subnet_usable_ips
from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.rules.rule import DataSource, NotAssessed, Rule, Threshold, inventory
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2

ACI_CONNECTOR = "aciconnectorlinux"
"""The virtual nodes add-on, ``addonProfiles.aciConnectorLinux`` (CLI _consts.py); the
inventory keys add-ons lower-cased."""

SUBNET_NAME_KEY = "SubnetName"

NON_FLAT_MODELS = frozenset({NetworkModel.KUBENET, NetworkModel.AZURE_OVERLAY})
"""Models whose pod IPs are not VNet addresses; virtual nodes need Azure CNI with pods in
the VNet (A-VN: "only work with ... advanced networking (Azure CNI)"; A-OVC)."""


def _virtual_nodes(cluster: inventory_pb2.ClusterInventory) -> inventory_pb2.Addon | None:
    addon = cluster.addons.get(ACI_CONNECTOR)
    return addon if addon is not None and addon.enabled else None


def _non_flat_networking(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """aciConnectorLinux enabled ∧ (kubenet or overlay) (domain.md §5 VND-001)."""
    cluster = view.require_inventory()
    addon = _virtual_nodes(cluster)
    if addon is None:
        return
    model = view.require_network_model()
    if model not in NON_FLAT_MODELS:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"virtual nodes (aciConnectorLinux) are enabled on cluster {view.name}, which "
        f"runs {model}; virtual nodes need Azure CNI with pod IPs in the VNet",
        evidence={
            "network_model": model,
            "aci_subnet": addon.config.get(SUBNET_NAME_KEY, ""),
        },
    )


VND_001 = Rule(
    id="VND-001",
    title="Virtual nodes on non-flat networking",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Virtual nodes run pods in Azure Container Instances inside the cluster VNet "
    "and reach cluster pods directly; that works only with Azure CNI, where pod IPs are VNet "
    "addresses, not with kubenet or Azure CNI Overlay.",
    remediation="Disable the add-on (az aks disable-addons --addons virtual-node) or run the "
    "burst workloads on a cluster with Azure CNI (node subnet or pod subnet).",
    references=(
        "https://learn.microsoft.com/azure/aks/virtual-nodes",
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_non_flat_networking,
)


def _authorized_ip_ranges(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """aciConnectorLinux enabled ∧ apiServerAccessProfile.authorizedIPRanges non-empty
    (domain.md §5 VND-002)."""
    cluster = view.require_inventory()
    if _virtual_nodes(cluster) is None:
        return
    ranges = list(cluster.api_server_access.authorized_ip_ranges)
    if not ranges:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"virtual nodes are enabled on cluster {view.name} together with API server "
        f"authorized IP ranges ({', '.join(ranges)}), which virtual nodes do not support: "
        "pods in ACI cannot reach the API server",
        evidence={"authorized_ip_ranges": ",".join(ranges), "count": len(ranges)},
    )


VND_002 = Rule(
    id="VND-002",
    title="Virtual nodes with authorized IP ranges",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Pods on virtual nodes run in Azure Container Instances and must reach the "
    "API server to set up their networking; API server authorized IP ranges are listed as "
    "unsupported with virtual nodes.",
    remediation="Remove the authorized IP ranges (az aks update --api-server-authorized-ip-"
    "ranges '') and protect the API server another way (private cluster), or disable "
    "virtual nodes (az aks disable-addons --addons virtual-node).",
    references=("https://learn.microsoft.com/azure/aks/virtual-nodes",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_authorized_ip_ranges,
)

# -- VND-003 -------------------------------------------------------------------------------

MIN_FREE_IPS = Threshold(
    "min_free_ips",
    16,
    "Free IP addresses the virtual node subnet must keep. Each pod on a virtual node is an "
    "ACI container group with one address of this subnet, so the free count is how many more "
    "pods the virtual node can start. 16 is the batch in which AKS hands pod addresses to a "
    "node on dynamic pod subnets (A-DYN): the smallest scale-out step AKS itself plans for.",
)


def _setting(addon: inventory_pb2.Addon, key: str) -> str:
    """An add-on config value by key, ignoring case (ARM and the CLI differ)."""
    wanted = key.lower()
    return next((value for name, value in addon.config.items() if name.lower() == wanted), "")


def _pool_vnet_ids(cluster: inventory_pb2.ClusterInventory) -> list[str]:
    """Lower-cased ids of the VNets of the pools' node subnets: the cluster VNet."""
    ids: dict[str, None] = {}
    for pool in cluster.agent_pools:
        marker = pool.vnet_subnet_id.lower().find("/subnets/")
        if marker > 0:
            ids[pool.vnet_subnet_id[:marker].lower()] = None
    return list(ids)


def _virtual_node_subnet(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """aciConnectorLinux enabled and (config.SubnetName names no subnet of the cluster VNet,
    or that subnet has fewer free IPs than ``min_free_ips``) (domain.md §5 VND-003). Free
    IPs come from the VNet's usages; without a usage row only a subnet whose whole prefix
    offers fewer is judged."""
    cluster = view.require_inventory()
    addon = _virtual_nodes(cluster)
    if addon is None:
        return
    name = _setting(addon, SUBNET_NAME_KEY)
    vnet_ids = _pool_vnet_ids(cluster)
    if not name:
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"virtual nodes are enabled on cluster {view.name} but the add-on config "
            "names no SubnetName: ACI has no subnet to place the pods in",
            evidence={"subnet_name": "none"},
        )
        return
    if not vnet_ids:
        raise NotAssessed(
            "the pools run on the AKS-managed VNet, which the inventory does not read"
        )
    vnets = {vnet.id.lower(): vnet for vnet in cluster.virtual_networks}
    unread = [vnet_id for vnet_id in vnet_ids if vnet_id not in vnets]
    read = [vnets[vnet_id] for vnet_id in vnet_ids if vnet_id in vnets]
    unlisted = [vnet.id for vnet in read if not vnet.subnet_ids]
    if unlisted:
        raise NotAssessed(f"the inventory lists no subnets of {', '.join(unlisted)}")
    found = [
        (vnet, subnet_id)
        for vnet in read
        for subnet_id in vnet.subnet_ids
        if subnet_id.lower() == f"{vnet.id}/subnets/{name}".lower()
    ]
    if not found:
        if unread:
            raise NotAssessed(f"the inventory holds no {', '.join(unread)}")
        yield rule.finding(
            view,
            resource=f"{vnet_ids[0]}/subnets/{name.lower()}",
            message=f"the virtual node subnet {name} (aciConnectorLinux config.SubnetName) does "
            f"not exist in the cluster VNet {', '.join(v.name for v in read)}: pods scheduled "
            "on the virtual node stay Pending",
            evidence={"subnet_name": name, "virtual_networks": ",".join(v.name for v in read)},
        )
        return
    vnet, subnet_id = found[0]
    yield from _free_ips_low(rule, view, settings, cluster, vnet, subnet_id)


def _free_ips_low(
    rule: Rule,
    view: ClusterView,
    settings: RuleSettings,
    cluster: inventory_pb2.ClusterInventory,
    vnet: inventory_pb2.VirtualNetwork,
    subnet_id: str,
) -> Iterator[audit_pb2.Finding]:
    minimum = int(rule.threshold(MIN_FREE_IPS.name, settings))
    usage = next(
        (u for u in vnet.subnet_usages if u.subnet_id.lower() == subnet_id.lower() and u.limit > 0),
        None,
    )
    evidence: dict[str, object] = {"subnet": subnet_id.rsplit("/", 1)[-1], "min_free_ips": minimum}
    if usage is not None:
        free = int(usage.limit - usage.current_value)
        evidence.update(used=int(usage.current_value), limit=int(usage.limit), free=free)
    else:
        subnet = next((s for s in cluster.subnets if s.id.lower() == subnet_id.lower()), None)
        if subnet is None:
            raise NotAssessed(f"the virtual node subnet {subnet_id} was not read")
        try:
            usable = subnet_usable_ips(subnet)
        except ValueError as exc:
            raise NotAssessed(f"subnet {subnet_id} has a prefix that does not parse") from exc
        if usable >= minimum:
            raise NotAssessed(
                f"the VNet usages have no row for the virtual node subnet {subnet_id}: its "
                f"free IPs are unknown (its prefixes offer {usable})"
            )
        free = usable
        evidence.update(usable=usable, free=free, prefixes=",".join(subnet.address_prefixes))
    if free >= minimum:
        return
    yield rule.finding(
        view,
        resource=subnet_id.lower(),
        message=f"the virtual node subnet {evidence['subnet']} has {free} free IP addresses, "
        f"fewer than {minimum}: each pod on the virtual node needs one, so a burst beyond "
        f"{max(free, 0)} pods stays Pending",
        evidence=evidence,
    )


VND_003 = Rule(
    id="VND-003",
    title="Virtual node subnet missing/undersized",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "Virtual nodes place each pod as an ACI container group in the subnet the add-on "
        "names, taking one of its addresses; a missing or nearly full subnet leaves pods "
        "pending on the virtual node."
    ),
    remediation=(
        "Create the subnet named in the aciConnectorLinux add-on config in the cluster VNet "
        "(az network vnet subnet create -g <rg> --vnet-name <vnet> -n <SubnetName> "
        "--address-prefixes <range>), or re-enable the add-on on a larger subnet (az aks "
        "disable-addons -a virtual-node, then az aks enable-addons -a virtual-node "
        "--subnet-name <subnet>)."
    ),
    references=("https://learn.microsoft.com/azure/aks/virtual-nodes",),
    data_source=DataSource.ARM,
    reads=(
        inventory("cluster"),
        inventory("virtual_networks"),
        # Only when the usages have no row for the subnet: its prefix from the subnet read.
        inventory("subnets", optional=True),
    ),
    check=_virtual_node_subnet,
    thresholds=(MIN_FREE_IPS,),
)
