"""Kubenet rules (domain.md §5 KUB-*): retirement (KUB-001), the 400-node route limit
(KUB-002), a route table shared across clusters (KUB-003, judged by the fleet-wide step),
the route table (KUB-004) and features kubenet does not support (KUB-005)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from netaudit.collector.analysis.agent_pools import node_total, windows_pools
from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.rules.rule import (
    URGENT_DAYS,
    DataSource,
    DoesNotApply,
    FleetGroup,
    NotAssessed,
    Rule,
    dated_severity,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2

KUBENET_RETIREMENT = date(2028, 3, 31)
"""AKS no longer supports kubenet from March 31, 2028 (A-KRET, Azure/AKS#4859)."""


def _kubenet_in_use(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPlugin == kubenet: medium, high from ``urgent_days`` before retirement
    (domain.md §5 KUB-001), counted from the scan's clock."""
    if view.require_network_model() is not NetworkModel.KUBENET:
        return
    severity, days = dated_severity(rule, view, settings, KUBENET_RETIREMENT)
    when = f"in {days} days, on" if days >= 0 else f"{-days} days ago, on"
    yield rule.finding(
        view,
        resource=view.cluster_key,
        severity=severity,
        message=f"cluster {view.name} uses kubenet, which AKS retires {when} "
        f"{KUBENET_RETIREMENT.isoformat()}",
        evidence={
            "network_plugin": "kubenet",
            "model_from": view.network.source,
            "retirement_date": KUBENET_RETIREMENT.isoformat(),
            "days_remaining": days,
        },
    )


KUB_001 = Rule(
    id="KUB-001",
    title="Kubenet in use (retiring 2028-03-31)",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="AKS stops supporting kubenet on 2028-03-31; clusters still on it must migrate "
    "their network plugin before then.",
    remediation="Migrate to Azure CNI Overlay (az aks update --network-plugin azure "
    "--network-plugin-mode overlay); a user-assigned identity is needed to detach the route "
    "table, and the Cilium dataplane can be enabled only after the move.",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
        "https://learn.microsoft.com/azure/aks/update-azure-cni",
        "https://github.com/Azure/AKS/issues/4859",
    ),
    data_source=DataSource.ARM,
    # ARM names the plugin; without an inventory the agent's node evidence does (incluster.md §5)
    # (a kubenet cluster has no NodeNetworkConfig CRD: not served means no NNCs, as the
    # heuristic expects)
    reads=(
        inventory("cluster", either=True),
        report("nodes", either=True, not_served_means_none=True),
    ),
    check=_kubenet_in_use,
    thresholds=(URGENT_DAYS,),
)


SHARED_NAMES_SHOWN = 10
"""Other clusters named in a shared route table's message; the evidence counts them all."""


def _route_table_known(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """One cluster alone cannot share its route table; the fleet-wide step judges sharing
    from the route tables every cluster's inventory names. This part only requires that
    ARM was read, so a cluster without an inventory is not assessed rather than passed."""
    view.require_inventory()
    return iter(())


def _route_table_shared(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A route table on subnets of more than one cluster, one of them kubenet (domain.md
    §5 KUB-003, A-KUB: kubenet writes each node's pod route there; sharing is unsupported)."""
    clusters: dict[str, audit_pb2.FleetClaim] = {}
    for claim in group.claims:
        clusters.setdefault(claim.cluster_key, claim)
    plugins = {claim.cluster_key: claim.route_table.network_plugin for claim in group.claims}
    if len(clusters) < 2 or "kubenet" not in plugins.values():
        return
    names = {key: claim.cluster_name or key.rsplit("/", 1)[-1] for key, claim in clusters.items()}
    table = group.resource.rsplit("/", 1)[-1]
    ordered = sorted(names.values())  # once: a finding names the first few others
    for key, claim in sorted(clusters.items()):
        others = [name for name in ordered[: SHARED_NAMES_SHOWN + 1] if name != names[key]]
        others = others[:SHARED_NAMES_SHOWN]
        shown = ", ".join(others)
        more = len(clusters) - 1 - len(others)
        yield rule.finding_for(
            key,
            resource=group.resource,
            message=f"route table {table} of cluster {names[key]} "
            f"({plugins[key] or 'unknown plugin'}) is also on the subnets of {shown}"
            f"{f' and {more} more' if more > 0 else ''}: kubenet clusters overwrite each "
            "other's pod routes",
            evidence={
                "clusters": len(clusters),
                "shared_with": ",".join(others),
                "network_plugin": plugins[key],
                "subnets": ",".join(claim.route_table.subnet_ids),
            },
        )


KUB_003 = Rule(
    id="KUB-003",
    title="Route table shared across clusters",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="With kubenet, AKS writes a route per node (its pod /24) into the route table "
    "of the cluster subnet; a table shared with another cluster gets routes from both, so "
    "pods of one cluster are routed to nodes of the other. AKS does not support sharing a "
    "route table between clusters.",
    remediation="Give each cluster its own route table: create one (az network route-table "
    "create) and associate it with the subnets of one cluster only (az network vnet subnet "
    "update --route-table); a BYO table must be associated before the cluster is created.",
    references=("https://learn.microsoft.com/azure/aks/configure-kubenet",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("subnets")),
    check=_route_table_known,
    fleet=("route_table", _route_table_shared),
)


KUBENET_MAX_NODES = 400
"""Kubenet routes each node's /24 through the subnet's route table, and a route table
holds at most 400 routes (A-KUB: "maximum of 400 nodes")."""


def _too_many_nodes(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """kubenet ∧ Σ N > 400 over all pools, N = maxCount when autoscaling (domain.md §5
    KUB-002). A pool of unknown size makes the sum a lower bound: a verdict only when the
    known pools alone exceed the limit."""
    if view.require_network_model() is not NetworkModel.KUBENET:
        return
    cluster = view.require_inventory()
    total = node_total(cluster, surge=False)
    if total.nodes > KUBENET_MAX_NODES:
        evidence: dict[str, object] = {
            "max_nodes": KUBENET_MAX_NODES,
            "nodes": total.nodes,
            "excess": total.nodes - KUBENET_MAX_NODES,
        }
        evidence.update({f"pool.{name}": nodes for name, nodes in total.terms.items()})
        if not total.complete:
            evidence["unknown_pools"] = ",".join(sorted(total.unknown))
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"kubenet cluster {view.name} can scale to "
            f"{'at least ' if not total.complete else ''}{total.nodes} nodes "
            f"({', '.join(f'{n} {c}' for n, c in total.terms.items())}), above the "
            f"{KUBENET_MAX_NODES} routes a route table holds",
            evidence=evidence,
        )
        return
    if not total.complete:
        raise NotAssessed(total.unknown_reason())


KUB_002 = Rule(
    id="KUB-002",
    title="Kubenet pools can exceed 400 nodes",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Kubenet needs one user-defined route per node and an Azure route table "
    "holds 400, so a kubenet cluster supports at most 400 nodes; pools that can scale "
    "beyond that fail to route pod traffic of the extra nodes.",
    remediation="Lower the pools' maxCount (az aks nodepool update --max-count) so the "
    "total stays at or below 400, or migrate to Azure CNI Overlay (az aks update "
    "--network-plugin azure --network-plugin-mode overlay), which has no such limit.",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
        "https://learn.microsoft.com/azure/azure-resource-manager/management/"
        "azure-subscription-service-limits#networking-limits",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_too_many_nodes,
)


def _no_route_table(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """kubenet ∧ a BYO node subnet (a pool's vnetSubnetID) without a route table
    (domain.md §5 KUB-004). Pools in the AKS-managed VNet have no vnetSubnetID: AKS
    creates and associates their route table itself."""
    if view.require_network_model() is not NetworkModel.KUBENET:
        return
    cluster = view.require_inventory()
    subnets = {subnet.id.lower(): subnet for subnet in cluster.subnets}
    pools_by_subnet: dict[str, list[str]] = {}
    for pool in cluster.agent_pools:
        if pool.vnet_subnet_id:
            pools_by_subnet.setdefault(pool.vnet_subnet_id.lower(), []).append(pool.name)
    missing = []
    for subnet_id, pools in pools_by_subnet.items():
        subnet = subnets.get(subnet_id)
        if subnet is None:
            missing.append(subnet_id)
            continue
        if subnet.route_table_id:
            continue
        yield rule.finding(
            view,
            resource=subnet_id,
            message=f"kubenet node subnet {subnet.name} (pools {', '.join(pools)}) has no "
            "route table, so pod traffic between nodes has no routes",
            evidence={
                "subnet": subnet.name,
                "pools": ",".join(pools),
                "address_prefixes": ",".join(subnet.address_prefixes),
            },
        )
    if missing:
        raise NotAssessed(f"the inventory holds no subnet {', '.join(missing)}")


KUB_004 = Rule(
    id="KUB-004",
    title="Kubenet subnet without route table",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Kubenet reaches pods on other nodes through user-defined routes in a route "
    "table associated with the node subnet; without it pod-to-pod traffic across nodes "
    "fails.",
    remediation="Associate the cluster's route table with the subnet (az network vnet "
    "subnet update --route-table <the AKS route table>); a BYO route table cannot be "
    "swapped later, so check which table AKS manages in the node resource group first.",
    references=("https://learn.microsoft.com/azure/aks/configure-kubenet",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("subnets")),
    check=_no_route_table,
)


UNSUPPORTED_POLICIES = frozenset({"azure", "cilium"})
"""Network policy engines kubenet cannot run: Azure NPM needs Azure CNI (A-NP), Cilium the
Cilium dataplane on Azure CNI (A-KUB, A-CIL); only Calico works."""

VIRTUAL_NODES_ADDON = "aciconnectorlinux"


def _unsupported_features(view: ClusterView) -> dict[str, str]:
    """Feature -> what shows it, for every feature kubenet does not support."""
    cluster = view.require_inventory()
    features: dict[str, str] = {}
    policy = cluster.network_profile.network_policy
    if policy.lower() in UNSUPPORTED_POLICIES:
        features["network_policy"] = f"networkPolicy={policy}"
    windows = windows_pools(cluster)
    if windows:
        features["windows_pools"] = ",".join(pool.name for pool in windows)
    addon = cluster.addons.get(VIRTUAL_NODES_ADDON)
    if addon is not None and addon.enabled:
        features["virtual_nodes"] = "addonProfiles.aciConnectorLinux.enabled"
    agc = _agc_evidence(view)
    if agc:
        features["application_gateway_for_containers"] = agc
    return features


def _agc_evidence(view: ClusterView) -> str:
    """What shows Application Gateway for Containers: the AKS add-on in ARM, or the ALB
    controller / ApplicationLoadBalancer resources the agent saw (a Helm install shows
    only there)."""
    found = []
    cluster = view.require_inventory()
    if cluster.ingress_profile.application_load_balancer_enabled:
        found.append("ingressProfile.applicationLoadBalancer.enabled")
    agent = view.report
    if agent is not None:
        found += [f"Deployment {w.namespace}/{w.name}" for w in agent.agc.controllers]
        found += [
            f"ApplicationLoadBalancer {a.namespace}/{a.name}"
            for a in agent.agc.application_load_balancers
        ]
    return ",".join(found)


def _unsupported_feature(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """kubenet ∧ (networkPolicy ∈ {azure, cilium} or Windows pool or aciConnectorLinux
    enabled or AGC present) (domain.md §5 KUB-005): one finding naming every feature."""
    if view.require_network_model() is not NetworkModel.KUBENET:
        raise DoesNotApply
    features = _unsupported_features(view)
    if not features:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"kubenet cluster {view.name} uses what kubenet does not support: "
        + "; ".join(f"{name.replace('_', ' ')} ({shown})" for name, shown in features.items()),
        evidence={"features": ",".join(features), **features},
    )


KUB_005 = Rule(
    id="KUB-005",
    title="Kubenet with unsupported feature",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Kubenet supports only Calico network policy and Linux nodes; Azure NPM, "
    "Cilium policy, Windows pools, virtual nodes and Application Gateway for Containers "
    "need Azure CNI, so on kubenet they are outside support or do not work.",
    remediation="Migrate the cluster to Azure CNI Overlay (az aks update --network-plugin "
    "azure --network-plugin-mode overlay), or remove the feature; for network policy on "
    "kubenet use Calico.",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
        "https://learn.microsoft.com/azure/aks/use-network-policies",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking",
    ),
    data_source=DataSource.ARM,
    # ARM shows the policy, pools, add-ons and the AGC add-on; an AGC installed with Helm
    # shows only in the agent's report. A missing CRD means no ApplicationLoadBalancers.
    reads=(inventory("cluster"), report("agc", optional=True, not_served_means_none=True)),
    check=_unsupported_feature,
)
