"""Overlay rules: OVL-001 (pod CIDR too small for max nodes, overlay and kubenet), OVL-002
(pod CIDR overlaps), OVL-003 (pod CIDR outside RFC1918/RFC6598), OVL-004 (NSG blocks
overlay traffic), OVL-005 (names > 63), OVL-006 (node shapes), OVL-007 (pod CIDR
expansion blocked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from netaudit.collector.inventory import convert
from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.overlay import (
    DCSV2_SIZE,
    OVL_001,
    OVL_002,
    OVL_003,
    OVL_004,
    OVL_005,
    OVL_006,
    OVL_007,
    nodes_from_pod_cidr,
)
from netaudit.v1 import audit_pb2, inventory_pb2
from tests.rule_cases import (
    Alter,
    RuleCase,
    arm_json,
    facts_of,
    inventory_of,
    managed_cluster,
    outcome_of,
)
from tests.rule_cases import altered_cluster as cluster

FAMILY = (OVL_001, OVL_002, OVL_003, OVL_004, OVL_005, OVL_006, OVL_007)
OVERLAY = "azcli-recording_ManagedClusterGet_cni-overlay.json"
"""Overlay, pod CIDR 100.64.0.0/10, one pool of 1 node, AKS-managed VNet."""
OVERLAY_CILIUM = "azcli-recording_ManagedClusterGet_cni-overlay-cilium.json"
"""Overlay with Cilium, pod CIDR 10.244.0.0/16, one pool of 1 node."""
KUBENET = "ManagedClustersGet.json"
"""kubenet, pod CIDR 10.244.0.0/16, 3 nodes with maxSurge 33%."""
KUBENET_BYO = "azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json"
"""kubenet, pod CIDR 10.244.0.0/16, pool on BYO subnet cliakstest000003/aks-subnet."""
DUAL_STACK = "ManagedClustersCreate_DualStackNetworking.json"
AZURE_CNI = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
"""Azure CNI node subnet (no pod CIDR), with Windows pool npwin."""


Facts = Callable[[], audit_pb2.ClusterFacts]


def arm_facts(name: str, *alters: Alter) -> Facts:
    return lambda: facts_of(inventory_of(cluster(name, *alters)))


def pools(body: dict[str, Any]) -> list[dict[str, Any]]:
    profiles: list[dict[str, Any]] = body["properties"]["agentPoolProfiles"]
    return profiles


def pod_cidr(*cidrs: str | None) -> Alter:
    """Sets podCidr and podCidrs (ARM returns both); no argument removes them."""

    def alter(body: dict[str, Any]) -> None:
        network = body["properties"]["networkProfile"]
        network.pop("podCidr", None)
        network.pop("podCidrs", None)
        if cidrs:
            network["podCidr"] = cidrs[0]
            network["podCidrs"] = list(cidrs)

    return alter


def first_pool(**changes: Any) -> Alter:
    """Changes the first pool; a None value removes the field."""

    def alter(body: dict[str, Any]) -> None:
        pool = pools(body)[0]
        for key, value in changes.items():
            if value is None:
                pool.pop(key, None)
            else:
                pool[key] = value

    return alter


def extra_pool(name: str, **changes: Any) -> Alter:
    def alter(body: dict[str, Any]) -> None:
        pools(body).append(dict(pools(body)[0], name=name, **changes))

    return alter


def with_windows_pool(body: dict[str, Any]) -> None:
    """Adds the Windows2022 pool wnp2 of the AgentPools_CreateOrUpdate example."""
    pools(body).append(arm_json("managedclusters/AgentPoolsCreate_WindowsOSSKU.json"))


def says(text: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert text in outcome.reason, outcome.reason

    return check


def one(**expected: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


# -- OVL-001 ----------------------------------------------------------------------------------

AUTOSCALE_250 = first_pool(
    enableAutoScaling=True, minCount=1, maxCount=250, upgradeSettings={"maxSurge": "10%"}
)

OVL_001_CASES = [
    RuleCase("OVL-001", "overlay-16-autoscaling-to-250-plus-10pct-surge",
             arm_facts(OVERLAY_CILIUM, AUTOSCALE_250), Outcome.FINDINGS,
             check=one(max_nodes="256", required_nodes="275", shortfall="19",
                       **{"pool.nodepool1": "250+25"})),
    RuleCase("OVL-001", "kubenet-23-with-3-nodes-and-surge",
             arm_facts(KUBENET, pod_cidr("10.244.0.0/23")), Outcome.FINDINGS,
             check=one(network_model="kubenet", max_nodes="2", required_nodes="4")),
    RuleCase("OVL-001", "kubenet-22-fits-exactly", arm_facts(KUBENET, pod_cidr("10.244.0.0/22")),
             Outcome.PASSED),
    RuleCase("OVL-001", "overlay-10-recorded", arm_facts(OVERLAY), Outcome.PASSED),
    RuleCase("OVL-001", "overlay-16-autoscaling-to-200",
             arm_facts(OVERLAY_CILIUM, first_pool(enableAutoScaling=True, maxCount=200)),
             Outcome.PASSED),
    RuleCase("OVL-001", "dual-stack-ipv6-cidr-ignored", arm_facts(DUAL_STACK), Outcome.PASSED),
    RuleCase("OVL-001", "azure-cni-node-subnet", arm_facts(AZURE_CNI, pod_cidr("10.244.0.0/30")),
             Outcome.PASSED),
    RuleCase("OVL-001", "autoscaling-without-maxcount",
             arm_facts(OVERLAY_CILIUM, first_pool(enableAutoScaling=True)), Outcome.NOT_ASSESSED,
             check=says("gave no maxCount")),
    RuleCase("OVL-001", "known-pools-exceed-despite-unknown-one",
             arm_facts(OVERLAY_CILIUM, AUTOSCALE_250,
                       extra_pool("pool2", enableAutoScaling=True, maxCount=None)),
             Outcome.FINDINGS, check=one(required_nodes="275", unknown_pools="pool2")),
    RuleCase("OVL-001", "no-pod-cidr", arm_facts(OVERLAY, pod_cidr()), Outcome.NOT_ASSESSED,
             check=says("no networkProfile.podCidr")),
    RuleCase("OVL-001", "pod-cidr-does-not-parse", arm_facts(OVERLAY, pod_cidr("10.244.0.0/33")),
             Outcome.NOT_ASSESSED, check=says("is not a CIDR range")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("prefix", "nodes"), [(16, 256), (14, 1024), (12, 4096), (24, 1), (25, 0), (10, 16384)]
)
def test_ovl001_nodes_from_pod_cidr(prefix: int, nodes: int) -> None:
    assert nodes_from_pod_cidr(prefix) == nodes


def test_ovl001_counts_every_pool() -> None:
    body = cluster(
        OVERLAY_CILIUM,
        first_pool(count=200, upgradeSettings={"maxSurge": "10%"}),
        extra_pool("pool2", count=50),
    )
    (finding,) = outcome_of("OVL-001", facts_of(inventory_of(body))).findings
    assert finding.evidence["required_nodes"] == "275"  # (200 + 20) + (50 + 5)
    assert finding.evidence["pool.pool2"] == "50+5"


# -- OVL-002 ----------------------------------------------------------------------------------


def cluster_vnet(*prefixes: str, peering: tuple[str, list[str]] | None = None) -> dict[str, Any]:
    """VirtualNetworkGet.json as the recorded cluster's BYO VNet (cliakstest000003), with
    these address prefixes; ``peering`` adds a peering (hand-made: the examples' peering
    lists are empty) to a VNet of that name with those prefixes."""
    vnet: dict[str, Any] = arm_json("network/VirtualNetworkGet.json")
    subnet_id = pools(managed_cluster(KUBENET_BYO))[0]["vnetSubnetID"]
    vnet["id"] = subnet_id[: subnet_id.index("/subnets/")]
    vnet["name"] = vnet["id"].rsplit("/", 1)[-1]
    vnet["properties"]["addressSpace"]["addressPrefixes"] = list(prefixes)
    if peering is not None:
        name, remote = peering
        remote_id = vnet["id"].rsplit("/", 1)[0] + f"/{name}"
        vnet["properties"]["virtualNetworkPeerings"] = [
            {
                "name": f"to-{name}",
                "id": f"{vnet['id']}/virtualNetworkPeerings/to-{name}",
                "properties": {
                    "remoteVirtualNetwork": {"id": remote_id},
                    "remoteAddressSpace": {"addressPrefixes": remote},
                    "peeringState": "Connected",
                },
            }
        ]
    return vnet


def byo_facts(*vnets: dict[str, Any]) -> Facts:
    return lambda: facts_of(
        inventory_of(managed_cluster(KUBENET_BYO), vnets=[(vnet, []) for vnet in vnets])
    )


def overlapping(resource_end: str, **expected: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.resource.endswith(resource_end), finding.resource
        assert finding.severity == audit_pb2.SEVERITY_CRITICAL
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


OVL_002_CASES = [
    RuleCase("OVL-002", "cluster-vnet-contains-pod-cidr",
             byo_facts(cluster_vnet("10.0.0.0/8")), Outcome.FINDINGS,
             check=overlapping("/virtualnetworks/cliakstest000003", overlapping="10.0.0.0/8")),
    RuleCase("OVL-002", "peered-vnet-overlaps",
             byo_facts(cluster_vnet("10.0.0.0/16", peering=("hub", ["10.244.128.0/17"]))),
             Outcome.FINDINGS,
             check=overlapping("/virtualnetworks/hub", overlapping="10.244.128.0/17",
                               peering_state="Connected")),
    RuleCase("OVL-002", "on-premises-range-overlaps", arm_facts(KUBENET), Outcome.FINDINGS,
             settings={"on_premises_cidrs": ["10.240.0.0/12"]},
             check=overlapping("on-premises 10.240.0.0/12", pod_cidr="10.244.0.0/16")),
    RuleCase("OVL-002", "overlay-vnet-peered-and-on-prem-apart",
             byo_facts(cluster_vnet("10.0.0.0/16", peering=("hub", ["192.168.0.0/16"]))),
             Outcome.PASSED, settings={"on_premises_cidrs": ["172.16.0.0/12"]}),
    RuleCase("OVL-002", "managed-vnet-no-on-prem-ranges", arm_facts(KUBENET), Outcome.PASSED),
    RuleCase("OVL-002", "azure-cni-node-subnet", arm_facts(AZURE_CNI), Outcome.PASSED,
             settings={"on_premises_cidrs": ["0.0.0.0/0"]}),
    RuleCase("OVL-002", "vnet-not-in-inventory", byo_facts(), Outcome.NOT_ASSESSED,
             check=says("holds no VNet")),
]  # fmt: skip


def test_ovl002_one_finding_per_overlapping_network() -> None:
    facts = facts_of(
        inventory_of(
            managed_cluster(KUBENET_BYO),
            vnets=[(cluster_vnet("10.244.0.0/24", peering=("hub", ["10.244.1.0/24"])), [])],
        )
    )
    outcome = outcome_of("OVL-002", facts, {"on_premises_cidrs": ["10.244.2.0/24"]})
    resources = {f.resource for f in outcome.findings}
    assert len(resources) == 3
    assert "on-premises 10.244.2.0/24" in resources
    assert {r.rsplit("/", 1)[-1] for r in resources if r.startswith("/")} == {
        "cliakstest000003",
        "hub",
    }


# -- OVL-003 ----------------------------------------------------------------------------------

OVL_003_CASES = [
    RuleCase("OVL-003", "overlay-public-pod-cidr", arm_facts(OVERLAY, pod_cidr("20.0.0.0/16")),
             Outcome.FINDINGS, check=one(pod_cidr="20.0.0.0/16")),
    RuleCase("OVL-003", "overlay-straddling-rfc1918",
             arm_facts(OVERLAY, pod_cidr("172.0.0.0/8")), Outcome.FINDINGS),
    RuleCase("OVL-003", "overlay-rfc6598", arm_facts(OVERLAY), Outcome.PASSED),
    RuleCase("OVL-003", "overlay-rfc1918", arm_facts(OVERLAY_CILIUM), Outcome.PASSED),
    RuleCase("OVL-003", "kubenet-public-pod-cidr", arm_facts(KUBENET, pod_cidr("20.0.0.0/16")),
             Outcome.PASSED),
]  # fmt: skip


# -- OVL-004 ----------------------------------------------------------------------------------

NSG_FIXTURE = "network/NetworkSecurityGroupGet.json"
"""testnsg: rule1 (Allow * port 80 inbound, priority 130) and the six default rules."""
NSG_ID: str = arm_json(NSG_FIXTURE)["id"]
NODE_SUBNET: dict[str, Any] = arm_json("network/VirtualNetworkGet.json")["properties"]["subnets"][0]
"""subnet1 of test-vnet, 10.0.1.0/24, as the VNet GET embeds it: the node subnet."""
POD_CIDR = "100.64.0.0/10"
"""The pod CIDR of the recorded overlay cluster (OVERLAY)."""


def nsg_rule(
    name: str,
    priority: int,
    access: str,
    *,
    direction: str = "Inbound",
    protocol: str = "*",
    source: str | list[str] = "*",
    destination: str | list[str] = "*",
    ports: str = "*",
) -> dict[str, Any]:
    """Hand-made: rule1 of the published NSG with these values (lists go to the plural
    prefix fields, as ARM holds several prefixes)."""
    rule: dict[str, Any] = arm_json(NSG_FIXTURE)["properties"]["securityRules"][0]
    rule["name"] = name
    rule["id"] = f"{NSG_ID}/securityRules/{name}"
    properties = rule["properties"]
    properties.update(
        priority=priority,
        access=access,
        direction=direction,
        protocol=protocol,
        destinationPortRange=ports,
    )
    for side, value in (("source", source), ("destination", destination)):
        if isinstance(value, list):
            del properties[f"{side}AddressPrefix"]
            properties[f"{side}AddressPrefixes"] = value
        else:
            properties[f"{side}AddressPrefix"] = value
    return rule


def nsg_facts(
    *rules: dict[str, Any],
    name: str = OVERLAY,
    nsg_read: bool = True,
    gaps: tuple[inventory_pb2.InventoryGap, ...] = (),
) -> Facts:
    """The recorded cluster with its pool on subnet1, whose NSG is the published testnsg
    with ``rules`` added to its custom rules."""

    def build() -> audit_pb2.ClusterFacts:
        body = cluster(name, first_pool(vnetSubnetID=NODE_SUBNET["id"]))
        subnet = {
            **NODE_SUBNET,
            "properties": {**NODE_SUBNET["properties"], "networkSecurityGroup": {"id": NSG_ID}},
        }
        inventory = inventory_of(body, subnets=[subnet])
        if nsg_read:
            nsg = arm_json(NSG_FIXTURE)
            nsg["properties"]["securityRules"].extend(rules)
            inventory.network_security_groups.append(convert.network_security_group(nsg))
        inventory.gaps.extend(gaps)
        return facts_of(inventory)

    return build


DENY_ALL_INBOUND = nsg_rule("deny-all-inbound", 4000, "Deny")
DOCUMENTED_ALLOWS = (
    nsg_rule("allow-node-to-pod", 100, "Allow", source="10.0.1.0/24", destination=POD_CIDR),
    nsg_rule("allow-pod-to-pod", 110, "Allow", source=POD_CIDR, destination=POD_CIDR),
)
"""The allows A-OVC asks for when an NSG has denies (Node CIDR -> Pod CIDR, Pod -> Pod)."""
NSG_FORBIDDEN = inventory_pb2.InventoryGap(
    resource_id=NSG_ID, reason="forbidden", message="403 AuthorizationFailed: no read access"
)

OVL_004_CASES = [
    RuleCase("OVL-004", "custom-deny-all-inbound-before-the-default-vnet-allow",
             nsg_facts(DENY_ALL_INBOUND), Outcome.FINDINGS,
             check=one(**{"denying_rules": "deny-all-inbound@4000",
                          "inbound.node-to-pod": "deny-all-inbound@4000",
                          "inbound.pod-to-pod": "deny-all-inbound@4000",
                          "pod_cidr": POD_CIDR, "node_cidr": "10.0.1.0/24", "nsg": "testnsg"})),
    RuleCase("OVL-004", "deny-virtualnetwork-tcp-outbound",
             nsg_facts(nsg_rule("deny-vnet-tcp", 300, "Deny", direction="Outbound",
                                protocol="Tcp", source="VirtualNetwork",
                                destination="VirtualNetwork")),
             Outcome.FINDINGS,
             check=one(**{"outbound.pod-to-pod": "deny-vnet-tcp@300",
                          "outbound.node-to-pod": "deny-vnet-tcp@300"})),
    RuleCase("OVL-004", "deny-ssh-to-the-pod-cidr",
             nsg_facts(nsg_rule("deny-ssh", 200, "Deny", protocol="Tcp", destination=POD_CIDR,
                                ports="22")),
             Outcome.FINDINGS, check=one(denying_rules="deny-ssh@200")),
    RuleCase("OVL-004", "tcp-and-udp-allows-leave-icmp-to-the-deny",
             nsg_facts(nsg_rule("allow-tcp", 100, "Allow", protocol="Tcp",
                                source=[POD_CIDR, "10.0.1.0/24"], destination=POD_CIDR),
                       nsg_rule("allow-udp", 110, "Allow", protocol="Udp",
                                source=[POD_CIDR, "10.0.1.0/24"], destination=POD_CIDR),
                       DENY_ALL_INBOUND),
             Outcome.FINDINGS, check=one(denying_rules="deny-all-inbound@4000")),
    RuleCase("OVL-004", "published-nsg-default-rules", nsg_facts(), Outcome.PASSED),
    RuleCase("OVL-004", "deny-all-after-the-documented-allows",
             nsg_facts(*DOCUMENTED_ALLOWS, DENY_ALL_INBOUND), Outcome.PASSED),
    RuleCase("OVL-004", "deny-from-internet",
             nsg_facts(nsg_rule("deny-internet", 300, "Deny", source="Internet")),
             Outcome.PASSED),
    RuleCase("OVL-004", "deny-to-another-pod-cidr",
             nsg_facts(nsg_rule("deny-other", 300, "Deny", destination="10.245.0.0/16")),
             Outcome.PASSED),
    RuleCase("OVL-004", "kubenet-behind-a-deny-all",
             nsg_facts(DENY_ALL_INBOUND, name=KUBENET), Outcome.PASSED),
    RuleCase("OVL-004", "overlay-on-the-aks-managed-vnet", arm_facts(OVERLAY), Outcome.PASSED),
    RuleCase("OVL-004", "nsg-read-forbidden",
             nsg_facts(DENY_ALL_INBOUND, nsg_read=False, gaps=(NSG_FORBIDDEN,)),
             Outcome.NOT_ASSESSED, check=says("networkSecurityGroups/testnsg (forbidden")),
    RuleCase("OVL-004", "nsg-not-in-inventory", nsg_facts(nsg_read=False),
             Outcome.NOT_ASSESSED, check=says("holds no")),
    RuleCase("OVL-004", "deny-with-application-security-group",
             nsg_facts({**nsg_rule("deny-asg", 200, "Deny"), "properties": {
                 **nsg_rule("deny-asg", 200, "Deny")["properties"],
                 "destinationAddressPrefix": None,
                 "destinationApplicationSecurityGroups": [{"id": f"{NSG_ID}-asg"}]}}),
             Outcome.NOT_ASSESSED, check=says("application security groups")),
]  # fmt: skip


def test_ovl004_finding_is_high_and_on_the_nsg() -> None:
    (finding,) = outcome_of("OVL-004", nsg_facts(DENY_ALL_INBOUND)()).findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.resource == NSG_ID.lower()
    assert "Inbound pod-to-pod by deny-all-inbound (priority 4000" in finding.message


def test_ovl004_deny_before_an_application_security_group_rule_stands() -> None:
    asg = nsg_rule("allow-asg", 300, "Allow")
    asg["properties"]["sourceApplicationSecurityGroups"] = [{"id": f"{NSG_ID}-asg"}]
    del asg["properties"]["sourceAddressPrefix"]
    deny = nsg_rule("deny-pods", 200, "Deny", destination=POD_CIDR)
    outcome = outcome_of("OVL-004", nsg_facts(deny, asg)())
    assert outcome.outcome is Outcome.FINDINGS
    assert outcome.findings[0].evidence["denying_rules"] == "deny-pods@200"


# -- OVL-005 ----------------------------------------------------------------------------------

LONG_VNET = "v" * 64
"""A 64-character VNet name (hand-made: no fixture has one)."""


def byo_subnet(vnet: str = "test-vnet") -> Alter:
    """Puts the pool on the subnet of SubnetGet.json, in a VNet of this name."""
    subnet_id: str = arm_json("network/SubnetGet.json")["id"].replace(
        "/virtualNetworks/vnetname/", f"/virtualNetworks/{vnet}/"
    )
    return first_pool(vnetSubnetID=subnet_id)


OVL_005_CASES = [
    RuleCase("OVL-005", "overlay-vnet-name-64-chars", arm_facts(OVERLAY, byo_subnet(LONG_VNET)),
             Outcome.FINDINGS,
             check=one(**{"virtual_network.length": "64", "max_length": "63"})),
    RuleCase("OVL-005", "overlay-byo-subnet", arm_facts(OVERLAY, byo_subnet()), Outcome.PASSED),
    RuleCase("OVL-005", "overlay-vnet-name-63-chars",
             arm_facts(OVERLAY, byo_subnet("v" * 63)), Outcome.PASSED),
    RuleCase("OVL-005", "kubenet-vnet-name-64-chars",
             arm_facts(KUBENET, byo_subnet(LONG_VNET)), Outcome.PASSED),
]  # fmt: skip


def test_ovl005_resource_is_the_subnet() -> None:
    body = cluster(OVERLAY, byo_subnet(LONG_VNET))
    (finding,) = outcome_of("OVL-005", facts_of(inventory_of(body))).findings
    assert finding.resource == pools(body)[0]["vnetSubnetID"].lower()
    assert finding.evidence["virtual_network.name"] == LONG_VNET


# -- OVL-006 ----------------------------------------------------------------------------------

DC2S_V2 = first_pool(vmSize="Standard_DC2s_v2")

OVL_006_CASES = [
    RuleCase("OVL-006", "overlay-dc2s-v2", arm_facts(OVERLAY, DC2S_V2),
             Outcome.FINDINGS, check=one(pool="nodepool1", vm_size="Standard_DC2s_v2")),
    RuleCase("OVL-006", "overlay-availability-set",
             arm_facts(OVERLAY, first_pool(type="AvailabilitySet")), Outcome.FINDINGS,
             check=one(type="AvailabilitySet")),
    RuleCase("OVL-006", "overlay-recorded-ds2-v2", arm_facts(OVERLAY), Outcome.PASSED),
    RuleCase("OVL-006", "kubenet-dc2s-v2", arm_facts(KUBENET, DC2S_V2),
             Outcome.PASSED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("size", "dcsv2"),
    [
        ("Standard_DC1s_v2", True),
        ("Standard_DC2s_v2", True),
        ("Standard_DC4s_v2", True),
        ("Standard_DC8_v2", True),
        ("standard_dc4s_v2", True),
        ("Standard_DC2s_v3", False),
        ("Standard_DC2as_v5", False),
        ("Standard_DS2_v2", False),
        ("Standard_D2s_v2", False),
    ],
)
def test_ovl006_dcsv2_sizes(size: str, dcsv2: bool) -> None:
    assert bool(DCSV2_SIZE.match(size)) is dcsv2


def test_ovl006_one_finding_per_pool() -> None:
    body = cluster(
        OVERLAY, first_pool(vmSize="Standard_DC8_v2"), extra_pool("pool2", type="AvailabilitySet")
    )
    outcome = outcome_of("OVL-006", facts_of(inventory_of(body)))
    assert sorted(f.resource.rsplit("/", 1)[-1] for f in outcome.findings) == [
        "nodepool1",
        "pool2",
    ]


# -- OVL-007 ----------------------------------------------------------------------------------

OVL_007_CASES = [
    RuleCase("OVL-007", "overlay-with-windows-pool", arm_facts(OVERLAY, with_windows_pool),
             Outcome.FINDINGS, check=one(windows_pools="wnp2", pod_cidr="100.64.0.0/10")),
    RuleCase("OVL-007", "overlay-linux-only", arm_facts(OVERLAY), Outcome.PASSED),
    RuleCase("OVL-007", "azure-cni-node-subnet-with-windows-pool", arm_facts(AZURE_CNI),
             Outcome.PASSED),
]  # fmt: skip


def test_ovl007_is_informational() -> None:
    body = cluster(OVERLAY, with_windows_pool)
    (finding,) = outcome_of("OVL-007", facts_of(inventory_of(body))).findings
    assert finding.severity == audit_pb2.SEVERITY_INFO
    assert finding.resource == finding.cluster_key


CASES = (
    OVL_001_CASES
    + OVL_002_CASES
    + OVL_003_CASES
    + OVL_004_CASES
    + OVL_005_CASES
    + OVL_006_CASES
    + OVL_007_CASES
)
