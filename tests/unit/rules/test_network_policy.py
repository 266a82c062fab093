"""Network policy rules: NPL-001 (no engine), NPL-002 (NPM on Windows), NPL-003 (NPM on
Linux, retiring / over scale), NPL-004 (policy/dataplane combos), NPL-005 (namespaces
without policies). NPL-006 and NPL-007 wait for policy contents (test_pending)."""

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
