"""Network policy rules: NPL-001 (no engine), NPL-002 (NPM on Windows), NPL-003 (NPM on
Linux, retiring / over scale), NPL-004 (policy/dataplane combos), NPL-005 (namespaces
without policies), NPL-006 (ipBlock on pod/node ranges under Cilium), NPL-007 (Cilium +
LocalDNS with default-deny egress)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from netaudit.agent.gatherers import network_policies, nodes
from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.network_policy import (
    NPL_001,
    NPL_002,
    NPL_003,
    NPL_004,
    NPL_005,
    SYSTEM_NAMESPACES,
)
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import (
    Alter,
    RuleCase,
    arm_json,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
    outcome_of,
)
from tests.rule_cases import (
    altered_cluster as cluster,
)
from tests.unit.rules.network_payloads import NODE_SUBNET_ID, node_subnet_body

FAMILY = (NPL_001, NPL_002, NPL_003, NPL_004, NPL_005)
KUBENET = "ManagedClustersGet.json"
"""kubenet without networkPolicy."""
POLICY_NONE = "azcli-recording_ManagedClusterGet_private-dns-zone-none.json"
"""kubenet with networkPolicy "none"."""
WINDOWS_CNI = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
"""Azure CNI node subnet without networkPolicy, a Linux pool and Windows2022 pool npwin."""
OVERLAY = "azcli-recording_ManagedClusterGet_cni-overlay.json"
"""Azure CNI Overlay without networkPolicy, one Linux node."""
OVERLAY_CILIUM = "azcli-recording_ManagedClusterGet_cni-overlay-cilium.json"
"""Azure CNI Overlay with the Cilium dataplane and policy."""
TRANSIT_ENCRYPTION = "AdvancedNetworkingTransitEncryption.json"
"""Overlay with the Cilium dataplane and no networkPolicy in the request-shaped example."""


Facts = Callable[[], audit_pb2.ClusterFacts]


def arm_facts(
    name: str, *alters: Alter, report: Callable[[], report_pb2.Report] | None = None
) -> Facts:
    return lambda: facts_of(
        inventory_of(cluster(name, *alters)), report() if report is not None else None
    )


def profile(**changes: str) -> Alter:
    def alter(body: dict[str, Any]) -> None:
        body["properties"]["networkProfile"].update(changes)

    return alter


NPM = profile(networkPolicy="azure")
"""No recorded payload has Azure NPM (MANIFEST "Missing" 1): set networkPolicy azure."""


def with_windows_pool(body: dict[str, Any]) -> None:
    """Adds the Windows2022 pool wnp2 of the AgentPools_CreateOrUpdate example."""
    body["properties"]["agentPoolProfiles"].append(
        arm_json("managedclusters/AgentPoolsCreate_WindowsOSSKU.json")
    )


def says(text: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert text in outcome.reason, outcome.reason

    return check


def one(severity: int, **expected: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.severity == severity
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


# -- NPL-001 ----------------------------------------------------------------------------------

NPL_001_CASES = [
    RuleCase("NPL-001", "kubenet-policy-unset", arm_facts(KUBENET), Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_MEDIUM, network_policy="(unset)")),
    RuleCase("NPL-001", "kubenet-policy-none", arm_facts(POLICY_NONE), Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_MEDIUM, network_policy="none")),
    RuleCase("NPL-001", "azure-npm", arm_facts(WINDOWS_CNI, NPM), Outcome.PASSED),
    RuleCase("NPL-001", "cilium", arm_facts(OVERLAY_CILIUM), Outcome.PASSED),
    RuleCase("NPL-001", "calico", arm_facts(KUBENET, profile(networkPolicy="calico")),
             Outcome.PASSED),
    RuleCase("NPL-001", "byo-cni", arm_facts(KUBENET, profile(networkPlugin="none")),
             Outcome.NOT_ASSESSED, check=says("bring your own CNI")),
]  # fmt: skip


# -- NPL-002 ----------------------------------------------------------------------------------

NPL_002_CASES = [
    RuleCase("NPL-002", "npm-with-windows-pool-after-retirement", arm_facts(WINDOWS_CNI, NPM),
             Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_CRITICAL, pool="npwin", days_remaining="-58",
                       retirement_date="2026-09-30")),
    RuleCase("NPL-002", "calico-with-windows-pool",
             arm_facts(WINDOWS_CNI, profile(networkPolicy="calico")), Outcome.PASSED),
    RuleCase("NPL-002", "npm-linux-only", arm_facts(OVERLAY, NPM), Outcome.PASSED),
]  # fmt: skip


def test_npl002_is_high_before_the_urgent_window() -> None:
    facts = facts_of(inventory_of(cluster(WINDOWS_CNI, NPM)), now=datetime(2026, 4, 2, tzinfo=UTC))
    (finding,) = outcome_of("NPL-002", facts).findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.evidence["days_remaining"] == "181"
    assert finding.resource.endswith("/agentpools/npwin")


def test_npl002_one_finding_per_windows_pool() -> None:
    facts = facts_of(inventory_of(cluster(WINDOWS_CNI, NPM, with_windows_pool)))
    outcome = outcome_of("NPL-002", facts)
    assert sorted(f.evidence["pool"] for f in outcome.findings) == ["npwin", "wnp2"]
    assert len({f.resource for f in outcome.findings}) == 2


# -- NPL-003 ----------------------------------------------------------------------------------


def node(name: str, pods: int, host_network: int = 0) -> report_pb2.Node:
    """A Linux node with ``pods`` pods on the pod network. Hand-made: the fixtures hold no
    real AKS Node objects (MANIFEST "Missing" 8)."""
    message = nodes.node(
        {
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.azure.com/agentpool": "nodepool1",
                    "kubernetes.azure.com/cluster": "MC_clitest000001_cliakstest000001_westus2",
                    "kubernetes.azure.com/azure-cni-overlay": "true",
                    "kubernetes.io/os": "linux",
                },
            },
            "status": {"allocatable": {"pods": "250"}},
        },
        nodes.PodCounts(pod_network=pods, host_network=host_network),
    )
    return message


def sized_report(node_count: int, pods_per_node: int = 10) -> Callable[[], report_pb2.Report]:
    def build() -> report_pb2.Report:
        report = new_report(managed_cluster(OVERLAY)["id"])
        report.nodes.extend(
            node(f"aks-nodepool1-vmss{i:06d}", pods_per_node, 2) for i in range(node_count)
        )
        return report

    return build


NPL_003_CASES = [
    RuleCase("NPL-003", "npm-no-report-sized-from-arm", arm_facts(OVERLAY, NPM), Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_MEDIUM, nodes="1", pods="unknown",
                       size_from="ARM pool counts", over_scale="false", days_remaining="673")),
    RuleCase("NPL-003", "npm-3-nodes-from-report",
             arm_facts(OVERLAY, NPM, report=sized_report(3)), Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_MEDIUM, nodes="3", pods="36",
                       size_from="agent report")),
    RuleCase("NPL-003", "npm-251-nodes", arm_facts(OVERLAY, NPM, report=sized_report(251)),
             Outcome.FINDINGS, check=one(audit_pb2.SEVERITY_HIGH, nodes="251", over_scale="true")),
    RuleCase("NPL-003", "npm-pods-over-configured-limit",
             arm_facts(OVERLAY, NPM, report=sized_report(3, 20)), Outcome.FINDINGS,
             settings={"NPL-003": {"max_pods": 60}},
             check=one(audit_pb2.SEVERITY_HIGH, pods="66", over_scale="true")),
    RuleCase("NPL-003", "cilium", arm_facts(OVERLAY_CILIUM), Outcome.PASSED),
    RuleCase("NPL-003", "calico", arm_facts(OVERLAY, profile(networkPolicy="calico")),
             Outcome.PASSED),
]  # fmt: skip


def test_npl003_is_high_within_180_days_of_retirement() -> None:
    facts = facts_of(inventory_of(cluster(OVERLAY, NPM)), now=datetime(2028, 4, 3, tzinfo=UTC))
    (finding,) = outcome_of("NPL-003", facts).findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.evidence["days_remaining"] == "180"


def test_npl003_over_scale_and_near_retirement_stays_high() -> None:
    facts = facts_of(
        inventory_of(cluster(OVERLAY, NPM)),
        sized_report(251)(),
        now=datetime(2028, 9, 1, tzinfo=UTC),
    )
    (finding,) = outcome_of("NPL-003", facts).findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH


def test_npl003_scale_from_arm_pool_counts_without_a_report() -> None:
    body = cluster(OVERLAY, NPM)
    body["properties"]["agentPoolProfiles"][0]["count"] = 251
    (finding,) = outcome_of("NPL-003", facts_of(inventory_of(body))).findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.evidence["size_from"] == "ARM pool counts"


def test_npl003_virtual_nodes_do_not_count() -> None:
    report = sized_report(251)()
    for entry in report.nodes[:2]:
        entry.virtual_kubelet = True
    facts = facts_of(inventory_of(cluster(OVERLAY, NPM)), report)
    (finding,) = outcome_of("NPL-003", facts).findings
    assert finding.evidence["nodes"] == "249"
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM


# -- NPL-004 ----------------------------------------------------------------------------------

NPL_004_CASES = [
    RuleCase("NPL-004", "cilium-policy-on-azure-dataplane",
             arm_facts(OVERLAY_CILIUM, profile(networkDataplane="azure")), Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_HIGH, network_policy="cilium",
                       network_dataplane="azure")),
    RuleCase("NPL-004", "cilium-dataplane-with-windows-pool",
             arm_facts(OVERLAY_CILIUM, with_windows_pool), Outcome.FINDINGS,
             check=one(audit_pb2.SEVERITY_HIGH, pool="wnp2")),
    RuleCase("NPL-004", "cilium-policy-and-dataplane", arm_facts(OVERLAY_CILIUM), Outcome.PASSED),
    RuleCase("NPL-004", "cilium-dataplane-no-policy", arm_facts(TRANSIT_ENCRYPTION),
             Outcome.PASSED),
    RuleCase("NPL-004", "azure-dataplane-with-windows-pool", arm_facts(WINDOWS_CNI),
             Outcome.PASSED),
]  # fmt: skip


# -- NPL-005 ----------------------------------------------------------------------------------


def namespaces() -> list[dict[str, Any]]:
    """The three Namespaces of the Gateway API conformance base manifests, plus kube-system
    and default (hand-made: every cluster has them)."""
    documents = k8s_documents("gateway-api/conformance-base_manifests.yaml")
    found = [d for d in documents if d.get("kind") == "Namespace"]
    found += [{"kind": "Namespace", "metadata": {"name": n}} for n in ("kube-system", "default")]
    return found


def policy(kind: str, namespace: str) -> dict[str, Any]:
    """A default-deny policy (hand-made: the fixtures hold no NetworkPolicy objects)."""
    return {
        "kind": kind,
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def policy_report(
    *protected: str, cilium_protected: tuple[str, ...] = (), engine_daemonset: str = ""
) -> Callable[[], report_pb2.Report]:
    def build() -> report_pb2.Report:
        report = new_report(managed_cluster(OVERLAY)["id"])
        report.network_policies.extend(
            network_policies.policies_per_namespace(
                namespaces(),
                [policy("NetworkPolicy", ns) for ns in protected],
                [policy("CiliumNetworkPolicy", ns) for ns in cilium_protected],
            )
        )
        if engine_daemonset:
            namespace, name = engine_daemonset.split("/")
            # hand-made DaemonSet record, names as incluster.md §2 gives them
            report.cni.workloads.add(kind="DaemonSet", namespace=namespace, name=name)
        return report

    return build


def report_only(report: Callable[[], report_pb2.Report]) -> Facts:
    return lambda: facts_of(None, report())


def namespaces_flagged(*names: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert sorted(f.evidence["namespace"] for f in outcome.findings) == sorted(names)
        for finding in outcome.findings:
            assert finding.resource == f"Namespace {finding.evidence['namespace']}"
            assert finding.severity == audit_pb2.SEVERITY_LOW

    return check


def policies_forbidden() -> audit_pb2.ClusterFacts:
    report = policy_report()()
    report.gaps.add(
        gatherer="network_policies",
        resource=network_policies.NETWORK_POLICIES.label,
        reason="forbidden",
        message="networkpolicies.networking.k8s.io is forbidden",
    )
    return facts_of(inventory_of(cluster(OVERLAY, NPM)), report)


ALL_USER = ("gateway-conformance-infra", "gateway-conformance-app-backend",
            "gateway-conformance-web-backend", "default")  # fmt: skip

NPL_005_CASES = [
    RuleCase("NPL-005", "npm-two-namespaces-unprotected",
             arm_facts(OVERLAY, NPM,
                       report=policy_report("gateway-conformance-infra", "default")),
             Outcome.FINDINGS,
             check=namespaces_flagged("gateway-conformance-app-backend",
                                      "gateway-conformance-web-backend")),
    RuleCase("NPL-005", "cilium-policy-counts",
             arm_facts(OVERLAY_CILIUM,
                       report=policy_report("gateway-conformance-infra", "default",
                                            cilium_protected=("gateway-conformance-app-backend",))),
             Outcome.FINDINGS, check=namespaces_flagged("gateway-conformance-web-backend")),
    RuleCase("NPL-005", "every-user-namespace-protected",
             arm_facts(OVERLAY, NPM, report=policy_report(*ALL_USER)), Outcome.PASSED),
    RuleCase("NPL-005", "no-engine-no-policies", arm_facts(KUBENET, report=policy_report()),
             Outcome.PASSED),
    RuleCase("NPL-005", "no-inventory-cilium-daemonset",
             report_only(policy_report(*ALL_USER[:3], engine_daemonset="kube-system/cilium")),
             Outcome.FINDINGS, check=namespaces_flagged("default")),
    RuleCase("NPL-005", "no-inventory-no-enforcing-daemonset", report_only(policy_report()),
             Outcome.PASSED),
    RuleCase("NPL-005", "no-report", arm_facts(OVERLAY, NPM), Outcome.NOT_ASSESSED,
             check=says("no agent report")),
    RuleCase("NPL-005", "policies-forbidden", policies_forbidden, Outcome.NOT_ASSESSED,
             check=says("forbidden")),
]  # fmt: skip


def test_npl005_engine_evidence_says_where_it_shows() -> None:
    facts = facts_of(None, policy_report(engine_daemonset="calico-system/calico-node")())
    outcome = outcome_of("NPL-005", facts)
    assert {f.evidence["engine"] for f in outcome.findings} == {"calico"}
    assert {f.evidence["engine_from"] for f in outcome.findings} == {
        "DaemonSet calico-system/calico-node"
    }


def test_npl005_system_namespaces_are_never_flagged() -> None:
    report = new_report(managed_cluster(OVERLAY)["id"])
    report.network_policies.extend(
        report_pb2.NamespacePolicies(namespace=name) for name in sorted(SYSTEM_NAMESPACES)
    )
    outcome = outcome_of("NPL-005", facts_of(inventory_of(cluster(OVERLAY, NPM)), report))
    assert outcome.outcome is Outcome.PASSED


CASES = NPL_001_CASES + NPL_002_CASES + NPL_003_CASES + NPL_004_CASES + NPL_005_CASES


# -- NPL-006 / NPL-007: policy contents ---------------------------------------------------
# NetworkPolicies are hand-made (the fixtures hold none), shaped after the examples of the
# Kubernetes network policy docs (test-network-policy, default-deny-egress) and the AKS
# LocalDNS guidance (egress to 169.254.10.0/24 on UDP and TCP 53, A-CIL).

Doc = dict[str, Any]


def netpol(
    name: str,
    *,
    namespace: str = "default",
    pods: Doc | None = None,
    types: tuple[str, ...] = (),
    ingress: list[Doc] | None = None,
    egress: list[Doc] | None = None,
) -> Doc:
    spec: Doc = {"podSelector": pods or {}}
    if types:
        spec["policyTypes"] = list(types)
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}  # fmt: skip


def ip_block(cidr: str, *excepts: str) -> Doc:
    block: Doc = {"cidr": cidr}
    if excepts:
        block["except"] = list(excepts)
    return {"ipBlock": block}


def dns_ports(*protocols: str) -> list[Doc]:
    return [{"protocol": protocol, "port": 53} for protocol in protocols]


def docs_example() -> Doc:
    """test-network-policy of the Kubernetes docs: ingress from 172.17.0.0/16 except
    172.17.1.0/24 (and selectors) on TCP 6379, egress to 10.0.0.0/24 on TCP 5978."""
    return netpol(
        "test-network-policy",
        pods={"matchLabels": {"role": "db"}},
        types=("Ingress", "Egress"),
        ingress=[{"from": [ip_block("172.17.0.0/16", "172.17.1.0/24"),
                           {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                           {"podSelector": {"matchLabels": {"role": "frontend"}}}],
                  "ports": [{"protocol": "TCP", "port": 6379}]}],
        egress=[{"to": [ip_block("10.0.0.0/24")], "ports": [{"protocol": "TCP", "port": 5978}]}],
    )  # fmt: skip


DEFAULT_DENY_EGRESS = netpol("default-deny-egress", types=("Egress",))
"""default-deny-egress of the Kubernetes docs."""


def allow_local_dns(
    *protocols: str,
    cidr: str = "169.254.10.0/24",
    excepts: tuple[str, ...] = (),
    pods: Doc | None = None,
    name: str = "allow-localdns",
) -> Doc:
    rule = {"to": [ip_block(cidr, *excepts)], "ports": dns_ports(*protocols)}
    return netpol(name, pods=pods, types=("Egress",), egress=[rule])


def with_node_subnet(body: dict[str, Any]) -> None:
    """Pools on subnet1 of the VNet fixture (10.0.1.0/24) instead of the managed VNet."""
    for pool in body["properties"]["agentPoolProfiles"]:
        pool["vnetSubnetID"] = NODE_SUBNET_ID


def with_local_dns(body: dict[str, Any]) -> None:
    """The localDNSProfile (mode Preferred, state Enabled) of ManagedClustersCreate_LocalDNS
    on every pool."""
    example = arm_json("managedclusters/ManagedClustersCreate_LocalDNS.json")
    profile_ = example["properties"]["agentPoolProfiles"][0]["localDNSProfile"]
    for pool in body["properties"]["agentPoolProfiles"]:
        pool["localDNSProfile"] = dict(profile_)


def policies_report(*policies: Doc, nodes_: tuple[report_pb2.Node, ...] = ()) -> report_pb2.Report:
    report = new_report(managed_cluster(OVERLAY_CILIUM)["id"])
    report.network_policies.extend(
        network_policies.policies_per_namespace(
            [{"metadata": {"name": n}} for n in ("default", "kube-system")], list(policies)
        )
    )
    report.nodes.extend(nodes_)
    return report


def cilium_facts(*policies: Doc, alters: tuple[Alter, ...] = (with_node_subnet,),
                 name: str = OVERLAY_CILIUM) -> Facts:  # fmt: skip
    return lambda: facts_of(
        inventory_of(cluster(name, *alters), subnets=[node_subnet_body()]),
        policies_report(*policies),
    )


def cilium_node() -> report_pb2.Node:
    """A Cilium overlay node (hand-made, labels as incluster.md §1 lists them)."""
    return nodes.node({
        "metadata": {"name": "aks-nodepool1-12345678-vmss000000",
                     "labels": {"kubernetes.azure.com/agentpool": "nodepool1",
                                "kubernetes.azure.com/azure-cni-overlay": "true",
                                "kubernetes.azure.com/ebpf-dataplane": "cilium",
                                "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.224.0.4"}]},
    })  # fmt: skip


def forbidden_policies(facts: Facts) -> Facts:
    def build() -> audit_pb2.ClusterFacts:
        built = facts()
        built.report.gaps.add(
            gatherer="network_policies",
            resource=network_policies.NETWORK_POLICIES.label,
            reason="forbidden",
            message="networkpolicies is forbidden",
        )
        return built

    return build


def flagged(*resources: str, **evidence: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert sorted(f.resource for f in outcome.findings) == sorted(resources)
        for key, value in evidence.items():
            assert {f.evidence[key] for f in outcome.findings} == {value}, (key, outcome)

    return check


REACHES_NODES = netpol("from-vnet", types=("Ingress",),
                       ingress=[{"from": [ip_block("10.0.0.0/16", "10.0.2.0/24")]}])  # fmt: skip
"""Ingress from the whole VNet fixture's space but one subnet: reaches node subnet1."""
REACHES_PODS = netpol("to-pods", types=("Egress",), egress=[{"to": [ip_block("10.244.8.0/22")]}])
REACHES_POD_CIDR = netpol(
    "to-pod-cidr", types=("Egress",), egress=[{"to": [ip_block("10.244.0.0/16")]}]
)
"""Without an inventory only the nodes' /24s are known: 10.244.8.0/22 reaches none of them."""
OUTSIDE_CLUSTER = netpol("to-internet", types=("Egress",),
                         egress=[{"to": [ip_block("0.0.0.0/0", "10.0.0.0/8")]}])  # fmt: skip
"""Egress anywhere but 10.0.0.0/8, which holds every pod and node range."""

NPL_006_CASES = [
    RuleCase("NPL-006", "cilium-ingress-block-over-node-subnet",
             cilium_facts(REACHES_NODES, docs_example()), Outcome.FINDINGS,
             check=flagged("NetworkPolicy default/from-vnet",
                           ip_blocks="ingress 10.0.0.0/16 except 10.0.2.0/24",
                           overlaps="10.0.1.0/24 (node subnet subnet1)",
                           cilium_from="ARM networkDataplane")),
    RuleCase("NPL-006", "cilium-egress-block-in-pod-cidr", cilium_facts(REACHES_PODS),
             Outcome.FINDINGS,
             check=flagged("NetworkPolicy default/to-pods", overlaps="10.244.0.0/16 (pod CIDR)")),
    RuleCase("NPL-006", "cilium-docs-example-outside-cluster-ranges",
             cilium_facts(docs_example(), DEFAULT_DENY_EGRESS), Outcome.PASSED),
    RuleCase("NPL-006", "cilium-excepts-cut-out-every-cluster-range",
             cilium_facts(OUTSIDE_CLUSTER), Outcome.PASSED),
    RuleCase("NPL-006", "azure-dataplane", cilium_facts(REACHES_NODES, name=OVERLAY),
             Outcome.PASSED),
    RuleCase("NPL-006", "no-inventory-cilium-from-node-labels",
             lambda: facts_of(None, policies_report(REACHES_PODS, REACHES_POD_CIDR,
                                                    nodes_=(cilium_node(),))),
             Outcome.FINDINGS,
             check=flagged("NetworkPolicy default/to-pod-cidr", cilium_from="agent evidence",
                           overlaps="10.244.0.0/24 (node podCIDR)")),
    RuleCase("NPL-006", "managed-vnet-without-node-ips",
             cilium_facts(OUTSIDE_CLUSTER, alters=()), Outcome.NOT_ASSESSED,
             check=says("node ranges")),
    RuleCase("NPL-006", "no-report", arm_facts(OVERLAY_CILIUM), Outcome.NOT_ASSESSED,
             check=says("no agent report")),
    RuleCase("NPL-006", "policies-forbidden", forbidden_policies(cilium_facts(REACHES_NODES)),
             Outcome.NOT_ASSESSED, check=says("forbidden")),
]  # fmt: skip


def test_npl006_findings_stand_when_node_ranges_are_unknown() -> None:
    facts = cilium_facts(REACHES_PODS, alters=())()
    outcome = outcome_of("NPL-006", facts)
    assert outcome.outcome is Outcome.FINDINGS
    assert "node ranges" in outcome.reason


def test_npl006_node_ips_stand_in_for_the_managed_vnet() -> None:
    node_ip_block = netpol(
        "to-node", types=("Egress",), egress=[{"to": [ip_block("10.224.0.4/32")]}]
    )
    facts = facts_of(
        inventory_of(cluster(OVERLAY_CILIUM)),
        policies_report(node_ip_block, nodes_=(cilium_node(),)),
    )
    (finding,) = outcome_of("NPL-006", facts).findings
    assert finding.evidence["overlaps"] == "10.224.0.4/32 (node IP)"


def test_npl006_one_finding_per_policy_with_every_block() -> None:
    both = netpol(
        "both-ways",
        types=("Ingress", "Egress"),
        ingress=[{"from": [ip_block("10.0.1.0/26")]}],
        egress=[{"to": [ip_block("10.244.0.0/16")]}, {"to": [ip_block("8.8.8.8/32")]}],
    )
    (finding,) = outcome_of("NPL-006", cilium_facts(both)()).findings
    assert finding.evidence["ip_blocks"] == "ingress 10.0.1.0/26;egress 10.244.0.0/16"
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM


LOCAL_DNS = (with_local_dns,)

NPL_007_CASES = [
    RuleCase("NPL-007", "default-deny-egress-alone",
             cilium_facts(DEFAULT_DENY_EGRESS, alters=LOCAL_DNS), Outcome.FINDINGS,
             check=flagged("Namespace default", default_deny_policies="default-deny-egress",
                           missing_protocols="UDP,TCP", localdns_pools="nodepool1",
                           partial_allow_policies="none")),
    RuleCase("NPL-007", "localdns-allowed-on-udp-only",
             cilium_facts(DEFAULT_DENY_EGRESS, allow_local_dns("UDP"), alters=LOCAL_DNS),
             Outcome.FINDINGS, check=flagged("Namespace default", missing_protocols="TCP")),
    RuleCase("NPL-007", "allowed-for-some-pods-only",
             cilium_facts(DEFAULT_DENY_EGRESS,
                          allow_local_dns("UDP", "TCP", pods={"matchLabels": {"role": "db"}}),
                          alters=LOCAL_DNS),
             Outcome.FINDINGS, check=flagged("Namespace default",
                                             partial_allow_policies="allow-localdns")),
    RuleCase("NPL-007", "wide-block-whose-except-cuts-localdns",
             cilium_facts(DEFAULT_DENY_EGRESS,
                          allow_local_dns("UDP", "TCP", cidr="0.0.0.0/0",
                                          excepts=("169.254.0.0/16",)),
                          alters=LOCAL_DNS),
             Outcome.FINDINGS, check=flagged("Namespace default", missing_protocols="UDP,TCP")),
    RuleCase("NPL-007", "complemented-by-localdns-allow",
             cilium_facts(DEFAULT_DENY_EGRESS, allow_local_dns("UDP", "TCP"), alters=LOCAL_DNS),
             Outcome.PASSED),
    RuleCase("NPL-007", "complemented-by-wide-block",
             cilium_facts(DEFAULT_DENY_EGRESS,
                          allow_local_dns("UDP", "TCP", cidr="0.0.0.0/0",
                                          excepts=("169.254.169.254/32",)),
                          alters=LOCAL_DNS),
             Outcome.PASSED),
    RuleCase("NPL-007", "localdns-off", cilium_facts(DEFAULT_DENY_EGRESS, alters=()),
             Outcome.PASSED),
    RuleCase("NPL-007", "azure-dataplane",
             cilium_facts(DEFAULT_DENY_EGRESS, alters=LOCAL_DNS, name=OVERLAY), Outcome.PASSED),
    RuleCase("NPL-007", "no-inventory",
             lambda: facts_of(None, policies_report(DEFAULT_DENY_EGRESS)), Outcome.NOT_ASSESSED,
             check=says("no inventory")),
    RuleCase("NPL-007", "policies-forbidden",
             forbidden_policies(cilium_facts(DEFAULT_DENY_EGRESS, alters=LOCAL_DNS)),
             Outcome.NOT_ASSESSED, check=says("forbidden")),
]  # fmt: skip


def test_npl007_egress_rules_that_allow_everything_complement() -> None:
    open_egress = netpol("allow-all-egress", types=("Egress",), egress=[{}])
    facts = cilium_facts(DEFAULT_DENY_EGRESS, open_egress, alters=LOCAL_DNS)()
    assert outcome_of("NPL-007", facts).outcome is Outcome.PASSED


def test_npl007_two_policies_together_open_udp_and_tcp() -> None:
    facts = cilium_facts(DEFAULT_DENY_EGRESS, allow_local_dns("UDP", name="udp"),
                         allow_local_dns("TCP", name="tcp"), alters=LOCAL_DNS)()  # fmt: skip
    assert outcome_of("NPL-007", facts).outcome is Outcome.PASSED


def test_npl007_namespaces_without_default_deny_are_not_flagged() -> None:
    facts = cilium_facts(docs_example(), alters=LOCAL_DNS)()
    assert outcome_of("NPL-007", facts).outcome is Outcome.PASSED


CASES += NPL_006_CASES + NPL_007_CASES


def from_an_older_agent(facts: Facts) -> Facts:
    """The report an agent older than the policy summaries sends: the same counts, no
    contents, nothing examined."""

    def build() -> audit_pb2.ClusterFacts:
        built = facts()
        for namespace in built.report.network_policies:
            del namespace.policies[:]
            namespace.policies_examined = 0
        return built

    return build


CASES += [
    RuleCase("NPL-006", "older-agent-without-policy-contents",
             from_an_older_agent(cilium_facts(REACHES_NODES)), Outcome.NOT_ASSESSED,
             check=says("without sending their contents: upgrade the agent")),
    RuleCase("NPL-007", "older-agent-without-policy-contents",
             from_an_older_agent(cilium_facts(DEFAULT_DENY_EGRESS, alters=LOCAL_DNS)),
             Outcome.NOT_ASSESSED,
             check=says("counted NetworkPolicies in 1 namespace(s) (default)")),
]  # fmt: skip
