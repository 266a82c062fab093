"""Virtual node rules: VND-001 (non-flat networking), VND-002 (authorized IP ranges),
VND-003 (virtual node subnet missing or undersized)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.virtual_nodes import VND_001, VND_002, VND_003
from netaudit.v1 import audit_pb2, inventory_pb2
from tests.rule_cases import RuleCase, arm_json, facts_of, inventory_of, managed_cluster, outcome_of
from tests.unit.rules.network_payloads import (
    NODE_SUBNET_ID,
    VNET_ID,
    node_subnet_body,
    subnet_id,
    usage_row,
    vnet_body,
)

FAMILY = (VND_001, VND_002, VND_003)
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


VND_CASES = [
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


# -- VND-003 ---------------------------------------------------------------------------------

ACI_SUBNET = "virtual-node-aci"
ACI_SUBNET_ID = subnet_id(ACI_SUBNET)


def on_node_subnet(body: dict[str, Any]) -> None:
    """Every pool on subnet1 of the published test-vnet (10.0.1.0/24)."""
    for pool in body["properties"]["agentPoolProfiles"]:
        pool["vnetSubnetID"] = NODE_SUBNET_ID


def aci_subnet_body(prefix: str = "10.0.2.0/24") -> dict[str, Any]:
    """The published delegated subnet of VirtualNetworkGetWithSubnetDelegation renamed to
    the virtual node subnet of test-vnet, delegated to ACI (hand-made delegation target:
    the fixtures delegate to Microsoft.Provider/resourceType)."""
    body: dict[str, Any] = arm_json("network/VirtualNetworkGetWithSubnetDelegation.json")
    subnet: dict[str, Any] = body["properties"]["subnets"][0]
    subnet.update(name=ACI_SUBNET, id=ACI_SUBNET_ID)
    subnet["properties"]["addressPrefix"] = prefix
    delegation = subnet["properties"]["delegations"][0]
    delegation["properties"]["serviceName"] = "Microsoft.ContainerInstance/containerGroups"
    subnet["properties"].pop("ipConfigurations", None)
    return subnet


def vnd003_facts(
    *usages: dict[str, Any],
    aci_prefix: str | None = "10.0.2.0/24",
    subnet_name: str | None = ACI_SUBNET,
    gaps: tuple[inventory_pb2.InventoryGap, ...] = (),
    cluster_name: str = AZURE_CNI,
    vnet_read: bool = True,
) -> Callable[[], audit_pb2.ClusterFacts]:
    """The recorded Azure CNI cluster on subnet1 of test-vnet with virtual nodes naming
    ``subnet_name`` (None: no SubnetName); test-vnet embeds subnet1 and, unless
    ``aci_prefix`` is None, the virtual node subnet; ``usages`` are its usage rows."""

    def build() -> audit_pb2.ClusterFacts:
        body = managed_cluster(cluster_name)
        virtual_nodes()(body)
        config = body["properties"]["addonProfiles"]["aciConnectorLinux"]["config"]
        if subnet_name is None:
            config.clear()
        else:
            config["SubnetName"] = subnet_name
        if cluster_name == AZURE_CNI:
            on_node_subnet(body)
        vnet = vnet_body()
        subnets = [node_subnet_body()]
        if aci_prefix is not None:
            subnets.append(aci_subnet_body(aci_prefix))
            vnet["properties"]["subnets"].append(aci_subnet_body(aci_prefix))
        rows: list[Mapping[str, Any]] = list(usages)
        vnets: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = (
            [(vnet, rows)] if vnet_read else []
        )
        inventory = inventory_of(body, subnets, vnets)
        inventory.gaps.extend(gaps)
        return facts_of(inventory)

    return build


def subnet_finding(resource_end: str, **expected: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.resource.endswith(resource_end), finding.resource
        assert finding.severity == audit_pb2.SEVERITY_MEDIUM
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


def says(text: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert text in outcome.reason, outcome.reason

    return check


VNET_FORBIDDEN = inventory_pb2.InventoryGap(
    resource_id=VNET_ID, reason="forbidden", message="403 AuthorizationFailed: no read access"
)

VND_003_CASES = [
    RuleCase("VND-003", "subnet-missing-from-the-cluster-vnet", vnd003_facts(aci_prefix=None),
             Outcome.FINDINGS,
             check=subnet_finding(f"/subnets/{ACI_SUBNET}", subnet_name=ACI_SUBNET,
                                  virtual_networks="test-vnet")),
    RuleCase("VND-003", "ten-free-ips", vnd003_facts(usage_row(ACI_SUBNET_ID, 241, 251)),
             Outcome.FINDINGS,
             check=subnet_finding(f"/subnets/{ACI_SUBNET}", free="10", used="241", limit="251",
                                  min_free_ips="16")),
    RuleCase("VND-003", "no-usage-row-and-a-29", vnd003_facts(aci_prefix="10.0.2.0/29"),
             Outcome.FINDINGS, check=subnet_finding(f"/subnets/{ACI_SUBNET}", free="3",
                                                    usable="3")),
    RuleCase("VND-003", "no-subnet-name", vnd003_facts(subnet_name=None), Outcome.FINDINGS,
             check=cluster_finding(subnet_name="none")),
    RuleCase("VND-003", "two-hundred-free-ips", vnd003_facts(usage_row(ACI_SUBNET_ID, 51, 251)),
             Outcome.PASSED),
    RuleCase("VND-003", "ten-free-ips-with-threshold-8",
             vnd003_facts(usage_row(ACI_SUBNET_ID, 241, 251)), Outcome.PASSED,
             settings={"VND-003": {"min_free_ips": 8}}),
    RuleCase("VND-003", "subnet-name-case-differs",
             vnd003_facts(usage_row(ACI_SUBNET_ID, 51, 251), subnet_name="Virtual-Node-ACI"),
             Outcome.PASSED),
    RuleCase("VND-003", "without-virtual-nodes", arm_facts(AZURE_CNI), Outcome.PASSED),
    RuleCase("VND-003", "virtual-nodes-disabled",
             arm_facts(AZURE_CNI, virtual_nodes(enabled=False)), Outcome.PASSED),
    RuleCase("VND-003", "vnet-read-forbidden",
             vnd003_facts(vnet_read=False, gaps=(VNET_FORBIDDEN,)), Outcome.NOT_ASSESSED,
             check=says("virtualNetworks/test-vnet (forbidden")),
    RuleCase("VND-003", "no-usage-row-for-a-24", vnd003_facts(), Outcome.NOT_ASSESSED,
             check=says("no row for the virtual node subnet")),
    RuleCase("VND-003", "aks-managed-vnet", arm_facts(KUBENET, virtual_nodes()),
             Outcome.NOT_ASSESSED, check=says("AKS-managed VNet")),
]  # fmt: skip


def test_vnd003_vnet_without_a_subnet_list_is_not_judged_missing() -> None:
    facts = vnd003_facts(aci_prefix=None)()
    del facts.inventory.virtual_networks[0].subnet_ids[:]
    outcome = outcome_of("VND-003", facts)
    assert outcome.outcome is Outcome.NOT_ASSESSED
    assert "lists no subnets" in outcome.reason


CASES = VND_CASES + VND_003_CASES
