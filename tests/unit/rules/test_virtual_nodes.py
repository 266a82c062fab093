"""Virtual node rules: VND-001 (non-flat networking), VND-002 (authorized IP ranges).
VND-003 waits for the ACI subnet evidence (test_pending)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.virtual_nodes import VND_001, VND_002
from netaudit.v1 import audit_pb2
from tests.rule_cases import RuleCase, facts_of, inventory_of, managed_cluster

FAMILY = (VND_001, VND_002)
OVERLAY = "azcli-recording_ManagedClusterGet_cni-overlay.json"
KUBENET = "ManagedClustersGet.json"
AZURE_CNI = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
"""Azure CNI in node-subnet mode: the flat networking virtual nodes need."""


Alter = Callable[[dict[str, Any]], None]


def arm_facts(name: str, *alters: Alter) -> Callable[[], audit_pb2.ClusterFacts]:
    def build() -> audit_pb2.ClusterFacts:
        body = managed_cluster(name)
        for alter in alters:
            alter(body)
        return facts_of(inventory_of(body))

    return build


def virtual_nodes(enabled: bool = True, key: str = "aciConnectorLinux") -> Alter:
    """Hand-made add-on profile: no fixture enables virtual nodes. ``aciConnectorLinux``
    is the CLI's key (_consts.py); ARM may return it lower-cased."""

    def alter(body: dict[str, Any]) -> None:
        addons = body["properties"].setdefault("addonProfiles", {}) or {}
        addons[key] = {"enabled": enabled, "config": {"SubnetName": "virtual-node-aci"}}
        body["properties"]["addonProfiles"] = addons

    return alter


def authorized_ranges(*ranges: str) -> Alter:
    def alter(body: dict[str, Any]) -> None:
        access = body["properties"].setdefault("apiServerAccessProfile", {})
        access["authorizedIPRanges"] = list(ranges)

    return alter


def cluster_finding(**expected: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.resource == finding.cluster_key
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


CASES = [
    RuleCase("VND-001", "overlay-with-virtual-nodes", arm_facts(OVERLAY, virtual_nodes()),
             Outcome.FINDINGS,
             check=cluster_finding(network_model="azure-overlay", aci_subnet="virtual-node-aci")),
    RuleCase("VND-001", "kubenet-with-virtual-nodes-lower-case-key",
             arm_facts(KUBENET, virtual_nodes(key="aciconnectorlinux")), Outcome.FINDINGS,
             check=cluster_finding(network_model="kubenet")),
    RuleCase("VND-001", "azure-cni-with-virtual-nodes", arm_facts(AZURE_CNI, virtual_nodes()),
             Outcome.PASSED),
    RuleCase("VND-001", "overlay-virtual-nodes-disabled",
             arm_facts(OVERLAY, virtual_nodes(enabled=False)), Outcome.PASSED),
    RuleCase("VND-001", "overlay-without-addon", arm_facts(OVERLAY), Outcome.PASSED),
    RuleCase("VND-001", "no-inventory", lambda: facts_of(), Outcome.NOT_ASSESSED),
    RuleCase("VND-002", "virtual-nodes-with-authorized-ranges",
             arm_facts(AZURE_CNI, virtual_nodes(), authorized_ranges("73.140.245.0/24")),
             Outcome.FINDINGS,
             check=cluster_finding(authorized_ip_ranges="73.140.245.0/24", count="1")),
    RuleCase("VND-002", "virtual-nodes-without-authorized-ranges",
             arm_facts(AZURE_CNI, virtual_nodes()), Outcome.PASSED),
    RuleCase("VND-002", "authorized-ranges-without-virtual-nodes",
             arm_facts(AZURE_CNI, authorized_ranges("73.140.245.0/24")), Outcome.PASSED),
    RuleCase("VND-002", "disabled-virtual-nodes-with-authorized-ranges",
             arm_facts(AZURE_CNI, virtual_nodes(enabled=False),
                       authorized_ranges("73.140.245.0/24")), Outcome.PASSED),
]  # fmt: skip
