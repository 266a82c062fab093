"""Network policy rules (domain.md §5 NPL-*)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from netaudit.collector.analysis.address_ranges import NamedRange, parse_networks
from netaudit.collector.analysis.agent_pools import pool_resource_id, windows_pools
from netaudit.collector.analysis.network_model import NetworkModel, Source
from netaudit.collector.analysis.policy_ranges import cluster_ranges, reaches
from netaudit.collector.rules.rule import (
    URGENT_DAYS,
    DataSource,
    NotAssessed,
    Rule,
    Threshold,
    dated_severity,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, report_pb2

NO_POLICY = frozenset({"", "none"})
"""``networkPolicy`` values that enforce nothing: unset defaults to none (SDK enum)."""
AZURE_NPM = "azure"
CILIUM = "cilium"
EGRESS = "Egress"


def _policy(view: ClusterView) -> str:
    return view.require_inventory().network_profile.network_policy.lower()


# -- NPL-001 ------------------------------------------------------------------------------


def _no_policy_engine(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPolicy ∈ {null, "none"} (domain.md §5 NPL-001). With networkPlugin none the
    policy engine comes with the user's own CNI, which ARM does not show."""
    cluster = view.require_inventory()
    policy = cluster.network_profile.network_policy
    if policy.lower() not in NO_POLICY:
        return
    if view.require_network_model() is NetworkModel.BYO:
        raise NotAssessed(
            "networkPlugin is none (bring your own CNI): the policy engine, if any, comes "
            "with that CNI and ARM does not show it"
        )
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} has no network policy engine "
        f"(networkPolicy {policy or 'unset'}): NetworkPolicy objects are accepted but not "
        "enforced, so every pod can reach every other pod",
        evidence={"network_policy": policy or "(unset)"},
    )


NPL_001 = Rule(
    id="NPL-001",
    title="No network policy engine",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Without a network policy engine Kubernetes NetworkPolicies have no effect and "
    "all pod-to-pod traffic is allowed; CIS AKS 5.4.4 asks for network policy to be enabled.",
    remediation="Enable an engine: Cilium on Azure CNI (az aks update --network-dataplane "
    "cilium --network-policy cilium) or Calico (az aks update --network-policy calico).",
    references=(
        "https://learn.microsoft.com/azure/aks/use-network-policies",
        "https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_no_policy_engine,
)


# -- NPL-002 ------------------------------------------------------------------------------

NPM_WINDOWS_RETIREMENT = date(2026, 9, 30)
"""Azure NPM on Windows nodes is retired on 2026-09-30 (A-NP, Azure Updates 500273)."""


def _npm_on_windows(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPolicy == azure ∧ any osType == Windows, per Windows pool (domain.md §5
    NPL-002): high, critical from ``urgent_days`` before the retirement on."""
    if _policy(view) != AZURE_NPM:
        return
    cluster = view.require_inventory()
    pools = windows_pools(cluster)
    if not pools:
        return
    severity, days = dated_severity(rule, view, settings, NPM_WINDOWS_RETIREMENT)
    period = f"in {days} days, on" if days >= 0 else f"{-days} days ago, on"
    for pool in pools:
        yield rule.finding(
            view,
            resource=pool_resource_id(cluster, pool),
            severity=severity,
            message=f"Windows pool {pool.name} relies on Azure Network Policy Manager, "
            f"retired on Windows {period} {NPM_WINDOWS_RETIREMENT.isoformat()}",
            evidence={
                "pool": pool.name,
                "network_policy": AZURE_NPM,
                "retirement_date": NPM_WINDOWS_RETIREMENT.isoformat(),
                "days_remaining": days,
            },
        )


NPL_002 = Rule(
    id="NPL-002",
    title="Azure NPM on Windows pools (retired)",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Azure Network Policy Manager on Windows nodes is retired on 2026-09-30; "
    "Windows pods then have no supported policy enforcement.",
    remediation="Move Windows workloads to a policy engine that supports Windows (Calico: "
    "az aks update --network-policy calico after removing NPM), or to a cluster without "
    "Azure NPM; Cilium does not run on Windows.",
    references=("https://learn.microsoft.com/azure/aks/use-network-policies",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_npm_on_windows,
    thresholds=(URGENT_DAYS,),
)


# -- NPL-003 ------------------------------------------------------------------------------

NPM_LINUX_RETIREMENT = date(2028, 9, 30)
"""Azure NPM on Linux nodes retires on 2028-09-30 (A-NP, Azure Updates 500268)."""

MAX_NODES = Threshold(
    "max_nodes",
    250,
    "Nodes above which Azure NPM is over its documented scale (250 nodes, beyond which it "
    "can run out of memory, A-NP): the finding is one level higher.",
)
MAX_PODS = Threshold(
    "max_pods",
    20000,
    "Pods above which Azure NPM is over its documented scale (20,000 pods, A-NP): the "
    "finding is one level higher.",
)


def _cluster_size(view: ClusterView) -> tuple[int, int | None, str]:
    """(nodes, pods or None, where they come from): the agent's nodes and their pods when
    a report has nodes, else ARM's current pool counts (pods unknown). Virtual nodes (ACI)
    run no NPM and are not counted."""
    agent = view.report
    if agent is not None and agent.nodes:
        nodes = [n for n in agent.nodes if not n.virtual_kubelet]
        pods = sum(n.pods_on_pod_network + n.host_network_pods for n in nodes)
        return len(nodes), pods, "agent report"
    cluster = view.require_inventory()
    return sum(pool.count for pool in cluster.agent_pools), None, "ARM pool counts"


def _npm_on_linux(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPolicy == azure (domain.md §5 NPL-003): medium, one level higher when the
    cluster is over NPM's scale (> ``max_nodes`` nodes or > ``max_pods`` pods) or within
    ``urgent_days`` of the retirement; both together stay one level higher, the
    catalogue's ceiling for this rule."""
    if _policy(view) != AZURE_NPM:
        return
    max_nodes = rule.threshold(MAX_NODES.name, settings)
    max_pods = rule.threshold(MAX_PODS.name, settings)
    nodes, pods, source = _cluster_size(view)
    over_scale = nodes > max_nodes or (pods is not None and pods > max_pods)
    dated, days = dated_severity(rule, view, settings, NPM_LINUX_RETIREMENT)
    levels = max(int(dated) - int(rule.severity), 1 if over_scale else 0)
    period = f"in {days} days, on" if days >= 0 else f"{-days} days ago, on"
    scale = f"{nodes} nodes" + (f" and {pods} pods" if pods is not None else "")
    message = (
        f"cluster {view.name} enforces network policy with Azure NPM, which retires on "
        f"Linux {period} {NPM_LINUX_RETIREMENT.isoformat()}; it runs {scale} ({source})"
    )
    if over_scale:
        message += f", over NPM's scale of {max_nodes:g} nodes / {max_pods:g} pods"
    yield rule.finding(
        view,
        resource=view.cluster_key,
        severity=rule.graded(levels),
        message=message,
        evidence={
            "network_policy": AZURE_NPM,
            "nodes": nodes,
            "pods": "unknown" if pods is None else pods,
            "size_from": source,
            "over_scale": over_scale,
            "retirement_date": NPM_LINUX_RETIREMENT.isoformat(),
            "days_remaining": days,
        },
    )


NPL_003 = Rule(
    id="NPL-003",
    title="Azure NPM on Linux (retiring 2028-09-30) / over scale",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Azure Network Policy Manager on Linux retires on 2028-09-30, and beyond 250 "
    "nodes or 20,000 pods it can run out of memory and stop enforcing policies.",
    remediation="Migrate to Cilium (az aks update --network-dataplane cilium, on Azure CNI "
    "Overlay or pod subnet) or to Calico; both replace NPM in place after its removal.",
    references=(
        "https://learn.microsoft.com/azure/aks/use-network-policies",
        "https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium",
    ),
    data_source=DataSource.BOTH,
    # ARM names the engine and decides the finding. The agent's node and pod counts, when a
    # report has them, only grade it (without, ARM's pool counts stand in for the nodes), so
    # they are not declared: an optional need would turn every cluster without Azure NPM
    # and without an agent into "not assessed", though the report cannot change that verdict.
    reads=(inventory("cluster"),),
    check=_npm_on_linux,
    thresholds=(URGENT_DAYS, MAX_NODES, MAX_PODS),
)


# -- NPL-004 ------------------------------------------------------------------------------


def _invalid_combination(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """(networkPolicy == cilium ∧ networkDataplane != cilium) or (networkDataplane ==
    cilium ∧ Windows pool) (domain.md §5 NPL-004): the first on the cluster, the second
    per Windows pool."""
    cluster = view.require_inventory()
    profile = cluster.network_profile
    dataplane = profile.network_dataplane.lower()
    if profile.network_policy.lower() == CILIUM and dataplane != CILIUM:
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"networkPolicy cilium needs networkDataplane cilium, but the dataplane "
            f"is {profile.network_dataplane or 'unset (azure)'}",
            evidence={
                "network_policy": profile.network_policy,
                "network_dataplane": profile.network_dataplane or "(unset)",
            },
        )
    if dataplane != CILIUM:
        return
    for pool in windows_pools(cluster):
        yield rule.finding(
            view,
            resource=pool_resource_id(cluster, pool),
            message=f"Windows pool {pool.name} is in a cluster with the Cilium dataplane, "
            "which runs on Linux nodes only",
            evidence={"pool": pool.name, "network_dataplane": profile.network_dataplane},
        )


NPL_004 = Rule(
    id="NPL-004",
    title="Invalid policy/dataplane combo",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Cilium network policy requires the Cilium dataplane, and the Cilium "
    "dataplane runs on Linux only; other combinations leave policies or Windows pods "
    "without a working dataplane.",
    remediation="Set the dataplane and policy together (az aks update --network-dataplane "
    "cilium --network-policy cilium), and keep Windows pools in clusters with the Azure "
    "dataplane.",
    references=(
        "https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium",
        "https://learn.microsoft.com/rest/api/aks/managed-clusters/get",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_invalid_combination,
)


# -- NPL-005 ------------------------------------------------------------------------------

SYSTEM_NAMESPACES = frozenset(
    {
        "kube-system",  # Kubernetes and AKS components
        "kube-public",  # Kubernetes: public cluster info ConfigMap
        "kube-node-lease",  # Kubernetes: node heartbeat Leases, no pods
        "gatekeeper-system",  # Azure Policy add-on (Gatekeeper)
        "calico-system",  # Calico network policy (AKS-managed Tigera operator)
        "tigera-operator",  # the Tigera operator that installs Calico
        "azure-alb-system",  # Application Gateway for Containers, Helm install
        "app-routing-system",  # application routing add-on (managed NGINX)
        "aks-istio-system",  # Istio service mesh add-on control plane
        "aks-command",  # az aks command invoke pods
    }
)
"""Namespaces whose pods AKS and its add-ons own: their network exposure is the add-on's
design, not the cluster owner's to police, so a missing NetworkPolicy there is not a
finding. Every other namespace (``default`` included) holds user workloads."""

ENGINE_DAEMONSETS = {
    ("kube-system", "cilium"): "cilium",
    ("kube-system", "azure-npm"): "azure",
    ("calico-system", "calico-node"): "calico",
    ("kube-system", "calico-node"): "calico",
}
"""DaemonSets that enforce NetworkPolicies (incluster.md §2), for clusters the agent sees
but ARM was not read for."""


ENGINE_NAMES = {"azure": "Azure NPM", "calico": "Calico", "cilium": "Cilium"}


def _policy_engine(view: ClusterView) -> tuple[str, str]:
    """(engine, where it shows): ARM's networkPolicy when the inventory holds the cluster,
    else the enforcing DaemonSet the agent saw; ("", ...) when there is none."""
    cluster = view.inventory
    if cluster is not None and cluster.network_profile.network_plugin:
        policy = cluster.network_profile.network_policy
        return ("" if policy.lower() in NO_POLICY else policy), "ARM networkPolicy"
    agent = view.require_report()
    for workload in agent.cni.workloads:
        engine = ENGINE_DAEMONSETS.get((workload.namespace, workload.name))
        if workload.kind.lower() == "daemonset" and engine:
            return engine, f"DaemonSet {workload.namespace}/{workload.name}"
    return "", "no enforcing DaemonSet"


def _unprotected(namespace: report_pb2.NamespacePolicies) -> bool:
    return (
        namespace.namespace not in SYSTEM_NAMESPACES
        and namespace.network_policies == 0
        and namespace.cilium_network_policies == 0
    )


def _namespaces_without_policy(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A policy engine is enabled ∧ a non-system namespace has no NetworkPolicy and no
    CiliumNetworkPolicy (domain.md §5 NPL-005), per namespace. The agent lists every
    namespace with its counts, zero included. Cluster-wide policies
    (CiliumClusterwideNetworkPolicy, Calico GlobalNetworkPolicy) are not counted."""
    engine, shown_by = _policy_engine(view)
    if not engine:
        return
    for namespace in view.require_report().network_policies:
        if not _unprotected(namespace):
            continue
        yield rule.finding(
            view,
            resource=f"Namespace {namespace.namespace}",
            message=f"namespace {namespace.namespace} has no NetworkPolicy or "
            f"CiliumNetworkPolicy although {ENGINE_NAMES.get(engine.lower(), engine)} "
            "enforces policies: its pods accept traffic from every pod in the cluster",
            evidence={
                "namespace": namespace.namespace,
                "network_policies": namespace.network_policies,
                "cilium_network_policies": namespace.cilium_network_policies,
                "engine": engine,
                "engine_from": shown_by,
            },
        )


NPL_005 = Rule(
    id="NPL-005",
    title="Namespaces without NetworkPolicy",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="A namespace without any NetworkPolicy allows all ingress and egress for its "
    "pods even where an engine enforces policies; a default-deny policy per namespace "
    "limits what a compromised pod can reach.",
    remediation="Add a default-deny NetworkPolicy (podSelector: {}, policyTypes: [Ingress, "
    "Egress]) to the namespace, then allow the flows it needs (DNS to kube-system "
    "included).",
    references=(
        "https://learn.microsoft.com/azure/aks/use-network-policies",
        "https://kubernetes.io/docs/concepts/services-networking/network-policies/",
    ),
    data_source=DataSource.AGENT,
    # ARM names the engine; without an inventory the agent's DaemonSets show it.
    reads=(
        inventory("cluster", either=True),
        report("cni", either=True),
        report("network_policies"),
    ),
    check=_namespaces_without_policy,
)


# -- NPL-006 ------------------------------------------------------------------------------


def _cilium_from(view: ClusterView) -> str:
    verdict = view.network
    return "ARM networkDataplane" if verdict.source is Source.INVENTORY else "agent evidence"


def _block_text(direction: str, block: report_pb2.IpBlock) -> str:
    excepts = f" except {','.join(block.excepts)}" if block.excepts else ""
    return f"{direction} {block.cidr}{excepts}"


def _reaching_blocks(
    summary: report_pb2.NetworkPolicySummary, ranges: list[NamedRange], invalid: list[str]
) -> list[tuple[str, report_pb2.IpBlock, list[NamedRange]]]:
    """(direction, block, cluster ranges it reaches) for each ipBlock that reaches one."""
    found = []
    for direction, blocks in (
        ("ingress", summary.ingress_ip_blocks),
        ("egress", summary.egress_ip_blocks),
    ):
        for block in blocks:
            networks, bad = parse_networks([block.cidr, *block.excepts])
            if bad:
                invalid.extend(f"{summary.name}: {b}" for b in bad)
                continue
            cidr, *excepts = networks
            hit = [r for r in ranges if reaches(cidr, excepts, r.network)]
            if hit:
                found.append((direction, block, hit))
    return found


def _ip_block_on_cluster_ranges(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkDataplane cilium ∧ a NetworkPolicy ipBlock (less its excepts) overlapping the
    cluster's pod or node ranges (domain.md §5 NPL-006, §1.9), one finding per policy. The
    ranges: :func:`~netaudit.collector.analysis.policy_ranges.cluster_ranges`."""
    if not view.network.cilium_dataplane:
        return
    agent = view.require_report()
    ranges = cluster_ranges(view.inventory, agent, view.network.model)
    if not ranges.all:
        raise NotAssessed(f"the cluster's address ranges are unknown: {'; '.join(ranges.unknown)}")
    invalid = list(ranges.invalid)
    _require_policy_contents(agent)
    for namespace in agent.network_policies:
        for summary in namespace.policies:
            reaching = _reaching_blocks(summary, ranges.all, invalid)
            if not reaching:
                continue
            overlapped = list(dict.fromkeys(str(r) for _, _, hit in reaching for r in hit))
            blocks = [_block_text(direction, block) for direction, block, _ in reaching]
            yield rule.finding(
                view,
                resource=f"NetworkPolicy {namespace.namespace}/{summary.name}",
                message=f"NetworkPolicy {namespace.namespace}/{summary.name} matches "
                f"{'; '.join(blocks)} by ipBlock, which reaches {', '.join(overlapped)}: "
                "under Cilium an ipBlock does not select pod or node IPs, so that traffic is "
                "not matched by it as written",
                evidence={
                    "namespace": namespace.namespace,
                    "policy": summary.name,
                    "ip_blocks": ";".join(blocks),
                    "overlaps": ";".join(overlapped),
                    "cilium_from": _cilium_from(view),
                },
            )
    missing = [*ranges.unknown, *(f"does not parse: {text}" for text in invalid)]
    if missing:
        raise NotAssessed(f"judged without {'; '.join(missing)}")


NPL_006 = Rule(
    id="NPL-006",
    title="Ineffective ipBlock under Cilium",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "Under Cilium an ipBlock cannot select pod or node IPs, so a policy that relies on "
        "one silently allows or denies other traffic than intended."
    ),
    remediation=(
        "Select pods with podSelector/namespaceSelector instead of ipBlock ranges that "
        "overlap pod or node CIDRs."
    ),
    references=("https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium",),
    data_source=DataSource.AGENT,
    # The policies come from the agent; the dataplane and the pod and node ranges from ARM,
    # or, without an inventory, from the agent's nodes (podCIDRs, internal IPs).
    reads=(
        report("network_policies"),
        inventory("cluster", either=True),
        report("nodes", either=True),
    ),
    check=_ip_block_on_cluster_ranges,
)


# -- NPL-007 ------------------------------------------------------------------------------

LOCAL_DNS_ALLOWANCE = "169.254.10.0/24 port 53"


def _denies_local_dns(summary: report_pb2.NetworkPolicySummary) -> bool:
    """A default-deny egress policy: every pod, type Egress, and its rules (if any) do not
    open LocalDNS on both UDP and TCP 53."""
    return (
        summary.selects_all_pods
        and EGRESS in summary.policy_types
        and not (summary.egress_allows_local_dns_udp and summary.egress_allows_local_dns_tcp)
    )


def _missing_protocols(policies: list[report_pb2.NetworkPolicySummary]) -> list[str]:
    """The protocols no all-pods egress policy of the namespace opens to LocalDNS."""
    allowing = [p for p in policies if p.selects_all_pods and EGRESS in p.policy_types]
    missing = []
    if not any(p.egress_allows_local_dns_udp for p in allowing):
        missing.append("UDP")
    if not any(p.egress_allows_local_dns_tcp for p in allowing):
        missing.append("TCP")
    return missing


def _require_policy_contents(agent: report_pb2.Report) -> None:
    """NotAssessed when the agent counted NetworkPolicies without examining them (an agent
    older than the policy summaries): their absence is unknown, not "nothing relevant"."""
    unread = [
        namespace.namespace
        for namespace in agent.network_policies
        if namespace.policies_examined < namespace.network_policies
    ]
    if unread:
        shown = ", ".join(sorted(unread)[:5])
        raise NotAssessed(
            f"the agent counted NetworkPolicies in {len(unread)} namespace(s) ({shown}) "
            "without sending their contents: upgrade the agent"
        )


def _default_deny_without_local_dns(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Any pool's localDNSProfile.state Enabled ∧ Cilium ∧ a namespace whose default-deny
    egress policy (podSelector {}, type Egress, not opening 169.254.10.0/24:53) no
    all-pods egress policy of the namespace complements on UDP and TCP (domain.md §5
    NPL-007, §1.9, A-CIL), one finding per namespace."""
    pools = [
        pool.name
        for pool in view.require_inventory().agent_pools
        if pool.local_dns_state.lower() == "enabled"
    ]
    if not pools or not view.network.cilium_dataplane:
        return
    agent = view.require_report()
    _require_policy_contents(agent)
    for namespace in agent.network_policies:
        policies = list(namespace.policies)
        denying = [p.name for p in policies if _denies_local_dns(p)]
        missing = _missing_protocols(policies) if denying else []
        if not missing:
            continue
        partial = [
            p.name
            for p in policies
            if not p.selects_all_pods
            and (p.egress_allows_local_dns_udp or p.egress_allows_local_dns_tcp)
        ]
        message = (
            f"namespace {namespace.namespace} denies egress by default "
            f"({', '.join(denying)}) and no policy selecting all its pods allows "
            f"{LOCAL_DNS_ALLOWANCE} over {' and '.join(missing)}: with LocalDNS on pool(s) "
            f"{', '.join(pools)}, Cilium drops the pods' DNS lookups"
        )
        if partial:
            message += f" (only some pods are allowed it, by {', '.join(partial)})"
        yield rule.finding(
            view,
            resource=f"Namespace {namespace.namespace}",
            message=message,
            evidence={
                "namespace": namespace.namespace,
                "default_deny_policies": ",".join(denying),
                "missing_protocols": ",".join(missing),
                "localdns_pools": ",".join(pools),
                "partial_allow_policies": ",".join(partial) or "none",
            },
        )


NPL_007 = Rule(
    id="NPL-007",
    title="Cilium + LocalDNS without DNS egress allow",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "With LocalDNS, pods resolve through 169.254.10.0/24; a default-deny egress policy "
        "without that allowance breaks DNS on Cilium clusters."
    ),
    remediation=(
        "Allow egress to 169.254.10.0/24 on UDP and TCP port 53 in the namespaces' default-"
        "deny egress policies."
    ),
    references=(
        "https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium",
        "https://learn.microsoft.com/azure/aks/localdns-custom",
    ),
    data_source=DataSource.BOTH,
    # LocalDNS state is ARM's (agentPoolProfiles[].localDNSProfile.state); the policies the
    # agent's. The dataplane is ARM's networkDataplane.
    reads=(inventory("cluster"), report("network_policies")),
    check=_default_deny_without_local_dns,
)
