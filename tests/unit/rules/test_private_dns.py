"""Private cluster DNS and API server access rules (PDN-001..003, 005..011).

Clusters are the published private cluster examples and recordings; zones, links, VNets and
subnets are the published privatedns/network examples moved onto the cluster's ids. Hand-made
parts (a peering, DNS server addresses, agent DNS probes) say so where they are made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from netaudit.agent.config import DEFAULT_PROBE_NAME
from netaudit.collector.inventory import convert
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules import private_dns as pdn
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.rule_cases import (
    ARM,
    RuleCase,
    arm_json,
    facts_of,
    inventory_of,
    managed_cluster,
    new_report,
)

FAMILY: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        pdn.PDN_001,
        pdn.PDN_002,
        pdn.PDN_003,
        pdn.PDN_005,
        pdn.PDN_006,
        pdn.PDN_007,
        pdn.PDN_008,
        pdn.PDN_009,
        pdn.PDN_010,
        pdn.PDN_011,
    )
}

# -- the published clusters ----------------------------------------------------------------

CUSTOM_ZONE = "ManagedClustersCreate_PrivateClusterFQDNSubdomain.json"
"""Private, custom zone privatelink.location1.azmk8s.io in rg1, fqdnSubdomain, service
principal, location1."""
PUBLIC_FQDN = "ManagedClustersCreate_PrivateClusterPublicFQDN.json"
"""Private, system zone, enablePrivateClusterPublicFQDN true."""
SYSTEM_ZONE = "azcli-recording_ManagedClusterGet_private-cluster-public-fqdn-disabled.json"
"""Recorded: private, system zone, public FQDN disabled, SystemAssigned, westus2, managed VNet."""
ZONE_NONE = "azcli-recording_ManagedClusterGet_private-dns-zone-none.json"
"""Recorded: private, privateDNSZone none, public FQDN enabled."""
PUBLIC = "azcli-recording_ManagedClusterGet_cni-overlay.json"
"""Recorded: public API server, no apiServerAccessProfile."""

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
SYSTEM_NODE_GROUP = "MC_clitest000001_cliakstest000001_westus2"
SYSTEM_ZONE_ID = (
    f"{SUBSCRIPTION}/resourceGroups/{SYSTEM_NODE_GROUP}/providers/Microsoft.Network/"
    "privateDnsZones/7c8e06f7-212d-4c41-900e-161264b39920.privatelink.westus2.azmk8s.io"
)
"""The zone AKS creates for SYSTEM_ZONE: its privateFQDN without the host label."""
CUSTOM_ZONE_ID = (
    f"{SUBSCRIPTION}/resourcegroups/rg1/providers/Microsoft.Network/privateDnsZones/"
    "privatelink.location1.azmk8s.io"
)
MANAGED_VNET = (
    f"{SUBSCRIPTION}/resourceGroups/{SYSTEM_NODE_GROUP}/providers/Microsoft.Network/"
    "virtualNetworks/aks-vnet-40536b9a"
)
"""Hand-made: the AKS-managed VNet, in the node resource group."""


def cluster(name: str, **access: Any) -> dict[str, Any]:
    """A published cluster body with apiServerAccessProfile fields changed."""
    body = managed_cluster(name)
    body["properties"].setdefault("apiServerAccessProfile", {})
    body["properties"]["apiServerAccessProfile"] = {
        **(body["properties"]["apiServerAccessProfile"] or {}),
        **access,
    }
    return body


def on_subnet(body: dict[str, Any], subnet_id: str) -> dict[str, Any]:
    for pool in body["properties"]["agentPoolProfiles"]:
        pool["vnetSubnetID"] = subnet_id
    return body


# -- the published network and private DNS examples ------------------------------------------

AZURE_DNS_VNET = arm_json("network/VirtualNetworkGet.json")
"""test-vnet (rg1, subscription subid), 10.0.0.0/16, no dhcpOptions: Azure DNS."""
AZURE_DNS_SUBNET = AZURE_DNS_VNET["properties"]["subnets"][0]["id"]
HUB_VNET, CUSTOM_DNS_VNET = arm_json("network/VirtualNetworkList.json")["value"]
"""vnet1 (no DNS servers) and vnet2 (dhcpOptions.dnsServers 8.8.8.8)."""
CUSTOM_DNS_SUBNET = f"{CUSTOM_DNS_VNET['id']}/subnets/aks"  # hand-made: vnet2 lists no subnets


def custom_dns_spoke(peered_to_hub: bool) -> dict[str, Any]:
    """vnet2 with its published DNS servers, and (hand-made) a peering to vnet1 as its hub."""
    vnet: dict[str, Any] = arm_json("network/VirtualNetworkList.json")["value"][1]
    if peered_to_hub:
        vnet["properties"]["virtualNetworkPeerings"] = [
            {
                "name": "vnet2-to-hub",
                "properties": {
                    "remoteVirtualNetwork": {"id": HUB_VNET["id"]},
                    "peeringState": "Connected",
                    "remoteAddressSpace": HUB_VNET["properties"]["addressSpace"],
                },
            }
        ]
    return vnet


def zone(zone_id: str, *linked_vnets: str) -> inventory_pb2.PrivateDnsZone:
    """PrivateZoneGet moved to ``zone_id``, with one VirtualNetworkLinkGet per linked VNet."""
    body = arm_json("privatedns/PrivateZoneGet.json")
    body.update(id=zone_id, name=zone_id.rsplit("/", 1)[-1])
    links = []
    for index, vnet_id in enumerate(linked_vnets):
        link = arm_json("privatedns/VirtualNetworkLinkGet.json")
        link["name"] = f"link{index}"
        link["id"] = f"{zone_id}/virtualNetworkLinks/link{index}"
        link["properties"]["virtualNetwork"]["id"] = vnet_id
        links.append(link)
    return convert.private_dns_zone(body, links)


def facts(
    body: Mapping[str, Any],
    *,
    zones: Iterable[inventory_pb2.PrivateDnsZone] = (),
    vnets: Iterable[Mapping[str, Any]] = (),
    subnets: Iterable[Mapping[str, Any]] = (),
    report: report_pb2.Report | None = None,
) -> audit_pb2.ClusterFacts:
    inventory = inventory_of(body, subnets, [(vnet, []) for vnet in vnets])
    inventory.private_dns_zones.extend(zones)
    return facts_of(inventory, report)


def outcome(rule_id: str, cluster_facts: audit_pb2.ClusterFacts) -> RuleOutcome:
    """The family's rule through the engine (registered or not)."""
    return evaluate_rule(FAMILY[rule_id], ClusterView(cluster_facts), RuleSettings())


def only_finding(result: RuleOutcome) -> audit_pb2.Finding:
    (finding,) = result.findings
    return finding


def evidence(**expected: str) -> Callable[[RuleOutcome], None]:
    """The single finding carries at least this evidence."""

    def check(result: RuleOutcome) -> None:
        actual = dict(only_finding(result).evidence)
        assert {key: actual.get(key) for key in expected} == expected, actual

    return check


def reason_names(*words: str) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        assert all(word in result.reason for word in words), result.reason

    return check


# -- PDN-001 -------------------------------------------------------------------------------


def published_clusters() -> list[str]:
    names = []
    for path in sorted((ARM / "managedclusters").glob("*.json")):
        body = arm_json(f"managedclusters/{path.name}")
        body = body["value"][0] if "value" in body else body
        if "agentPoolProfiles" in body.get("properties", {}):
            names.append(path.name)
    return names


def published(name: str) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts(managed_cluster(name))


def zone_none_public_fqdn_disabled() -> audit_pb2.ClusterFacts:
    return facts(cluster(ZONE_NONE, enablePrivateClusterPublicFQDN=False))


PDN_001_CASES = [
    RuleCase(
        "PDN-001",
        "zone-none-public-fqdn-disabled",
        zone_none_public_fqdn_disabled,
        Outcome.FINDINGS,
        check=evidence(
            enable_private_cluster="true",
            private_dns_zone="none",
            enable_private_cluster_public_fqdn="false",
            private_fqdn="cliakstest-clitestlscvfsydq-26fe00-tewhrld9.hcp.westus2.staging.azmk8s.io",
        ),
    ),
    *(
        RuleCase("PDN-001", f"published-{name}", published(name), Outcome.PASSED)
        for name in published_clusters()
    ),
    RuleCase(
        "PDN-001",
        "zone-none-public-fqdn-unset",
        lambda: facts(cluster(ZONE_NONE, enablePrivateClusterPublicFQDN=None)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-001",
        "public-cluster-zone-none-fqdn-disabled",
        lambda: facts(
            cluster(ZONE_NONE, enablePrivateCluster=False, enablePrivateClusterPublicFQDN=False)
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-001",
        "system-zone-public-fqdn-disabled",
        lambda: facts(managed_cluster(SYSTEM_ZONE)),
        Outcome.PASSED,
    ),
]


def test_pdn001_zone_none_compares_case_insensitively() -> None:
    body = cluster(ZONE_NONE, privateDNSZone="None", enablePrivateClusterPublicFQDN=False)
    assert outcome("PDN-001", facts(body)).outcome is Outcome.FINDINGS


def test_pdn001_finding_is_on_the_cluster() -> None:
    finding = only_finding(outcome("PDN-001", zone_none_public_fqdn_disabled()))
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.resource == managed_cluster(ZONE_NONE)["id"].lower()


def test_pdn001_without_inventory_is_not_assessed() -> None:
    result = outcome("PDN-001", facts_of(report=new_report("c")))
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "no inventory" in result.reason


# -- PDN-002 -------------------------------------------------------------------------------


def custom_zone_named(name: str, **access: Any) -> dict[str, Any]:
    return cluster(
        CUSTOM_ZONE, privateDNSZone=CUSTOM_ZONE_ID.rsplit("/", 1)[0] + "/" + name, **access
    )


PDN_002_CASES = [
    RuleCase(
        "PDN-002",
        "custom-zone-of-another-region",
        lambda: facts(custom_zone_named("privatelink.westus2.azmk8s.io")),
        Outcome.FINDINGS,
        check=evidence(
            zone="privatelink.westus2.azmk8s.io",
            location="location1",
            expected_pattern=r"^([a-z0-9-]{1,32}\.)?privatelink\.location1\.azmk8s\.io$",
            enable_vnet_integration="false",
        ),
    ),
    RuleCase(
        "PDN-002",
        "privatelink-zone-with-vnet-integration",
        lambda: facts(cluster(CUSTOM_ZONE, enableVnetIntegration=True)),
        Outcome.FINDINGS,
        check=evidence(
            expected_pattern=r"^([a-z0-9-]{1,32}\.)?private\.location1\.azmk8s\.io$",
            enable_vnet_integration="true",
        ),
    ),
    RuleCase(
        "PDN-002",
        "subzone-longer-than-32",
        lambda: facts(custom_zone_named(f"{'a' * 33}.privatelink.location1.azmk8s.io")),
        Outcome.FINDINGS,
    ),
    RuleCase(
        "PDN-002",
        "published-custom-zone",
        lambda: facts(managed_cluster(CUSTOM_ZONE)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-002",
        "private-zone-with-vnet-integration-and-subzone",
        lambda: facts(
            custom_zone_named("team-a.private.location1.azmk8s.io", enableVnetIntegration=True)
        ),
        Outcome.PASSED,
    ),
    RuleCase("PDN-002", "system-zone", lambda: facts(managed_cluster(SYSTEM_ZONE)), Outcome.PASSED),
    RuleCase(
        "PDN-002",
        "custom-zone-without-location",
        lambda: facts({**managed_cluster(CUSTOM_ZONE), "location": None}),
        Outcome.NOT_ASSESSED,
        check=reason_names("location"),
    ),
]


@pytest.mark.parametrize(
    ("zone_name", "location", "fires"),
    [
        ("PrivateLink.Location1.azmk8s.io", "Location1", False),
        (f"{'a' * 32}.privatelink.location1.azmk8s.io", "location1", False),
        ("a.b.privatelink.location1.azmk8s.io", "location1", True),
        ("sub_zone.privatelink.location1.azmk8s.io", "location1", True),
        ("privatelink.location1.azmk8s.io.evil", "location1", True),
        ("privatelink.west us 2.azmk8s.io", "West US 2", True),
        ("privatelink.westus2.azmk8s.io", "West US 2", False),
    ],
)
def test_pdn002_zone_name_matching(zone_name: str, location: str, fires: bool) -> None:
    body = custom_zone_named(zone_name)
    body["location"] = location
    result = outcome("PDN-002", facts(body))
    assert result.outcome is (Outcome.FINDINGS if fires else Outcome.PASSED), result


def test_pdn002_finding_is_on_the_zone() -> None:
    finding = only_finding(outcome("PDN-002", facts(custom_zone_named("privatelink.x.azmk8s.io"))))
    assert finding.resource == CUSTOM_ZONE_ID.rsplit("/", 1)[0].lower() + "/privatelink.x.azmk8s.io"
    assert finding.severity == audit_pb2.SEVERITY_HIGH


# -- PDN-003 -------------------------------------------------------------------------------


def custom_zone_with_identity(identity: Mapping[str, Any] | None, client_id: str) -> dict[str, Any]:
    body = managed_cluster(CUSTOM_ZONE)
    if identity is not None:
        body["identity"] = dict(identity)
    body["properties"]["servicePrincipalProfile"] = {"clientId": client_id}
    return body


PDN_003_CASES = [
    RuleCase(
        "PDN-003",
        "custom-zone-system-assigned",
        lambda: facts(custom_zone_with_identity({"type": "SystemAssigned"}, "msi")),
        Outcome.FINDINGS,
        check=evidence(private_dns_zone=CUSTOM_ZONE_ID, identity_type="SystemAssigned"),
    ),
    RuleCase(
        "PDN-003",
        "published-custom-zone-service-principal",
        lambda: facts(managed_cluster(CUSTOM_ZONE)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-003",
        "custom-zone-user-assigned",
        # the identity block of the published DualStackNetworking example
        lambda: facts(
            custom_zone_with_identity(
                managed_cluster("ManagedClustersCreate_DualStackNetworking.json")["identity"], "msi"
            )
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-003",
        "system-zone-system-assigned",
        lambda: facts(managed_cluster(SYSTEM_ZONE)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-003",
        "custom-zone-managed-identity-without-type",
        lambda: facts(custom_zone_with_identity(None, "msi")),
        Outcome.NOT_ASSESSED,
        check=reason_names("identity"),
    ),
]


def test_pdn003_identity_type_compares_case_insensitively() -> None:
    body = custom_zone_with_identity({"type": "systemassigned"}, "msi")
    finding = only_finding(outcome("PDN-003", facts(body)))
    assert finding.resource == body["id"].lower()


# -- PDN-005 -------------------------------------------------------------------------------


def system_on(subnet_id: str) -> dict[str, Any]:
    return on_subnet(managed_cluster(SYSTEM_ZONE), subnet_id)


PDN_005_CASES = [
    RuleCase(
        "PDN-005",
        "system-zone-linked-elsewhere-azure-dns",
        # the link as published points at another subscription's VNet
        lambda: facts(
            system_on(AZURE_DNS_SUBNET),
            zones=[
                zone(
                    SYSTEM_ZONE_ID,
                    arm_json("privatedns/VirtualNetworkLinkGet.json")["properties"][
                        "virtualNetwork"
                    ]["id"],
                )
            ],
            vnets=[AZURE_DNS_VNET],
        ),
        Outcome.FINDINGS,
        check=evidence(
            zone="7c8e06f7-212d-4c41-900e-161264b39920.privatelink.westus2.azmk8s.io",
            cluster_vnets=AZURE_DNS_VNET["id"].lower(),
            dns_servers="none",
        ),
    ),
    RuleCase(
        "PDN-005",
        "custom-dns-spoke-zone-linked-nowhere-it-resolves",
        lambda: facts(
            system_on(CUSTOM_DNS_SUBNET),
            zones=[zone(SYSTEM_ZONE_ID, AZURE_DNS_VNET["id"])],
            vnets=[custom_dns_spoke(peered_to_hub=True)],
        ),
        Outcome.FINDINGS,
        check=evidence(
            dns_servers="8.8.8.8",
            peered_vnets=HUB_VNET["id"].lower(),
            linked_vnets=AZURE_DNS_VNET["id"].lower(),
        ),
    ),
    RuleCase(
        "PDN-005",
        "managed-vnet-zone-without-link",
        lambda: facts(managed_cluster(SYSTEM_ZONE), zones=[zone(SYSTEM_ZONE_ID)]),
        Outcome.FINDINGS,
        check=evidence(linked_vnets="none", cluster_vnets=f"AKS-managed ({SYSTEM_NODE_GROUP})"),
    ),
    RuleCase(
        "PDN-005",
        "managed-vnet-zone-linked-only-outside-the-node-group",
        lambda: facts(
            managed_cluster(SYSTEM_ZONE), zones=[zone(SYSTEM_ZONE_ID, AZURE_DNS_VNET["id"])]
        ),
        Outcome.FINDINGS,
        check=evidence(linked_vnets=AZURE_DNS_VNET["id"].lower()),
    ),
    RuleCase(
        "PDN-005",
        "custom-zone-not-linked",
        lambda: facts(
            on_subnet(managed_cluster(CUSTOM_ZONE), AZURE_DNS_SUBNET),
            zones=[zone(CUSTOM_ZONE_ID)],
            vnets=[AZURE_DNS_VNET],
        ),
        Outcome.FINDINGS,
    ),
    RuleCase(
        "PDN-005",
        "system-zone-linked-to-cluster-vnet",
        lambda: facts(
            system_on(AZURE_DNS_SUBNET),
            zones=[zone(SYSTEM_ZONE_ID, AZURE_DNS_VNET["id"].upper())],
            vnets=[AZURE_DNS_VNET],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-005",
        "hub-spoke-zone-linked-to-hub",
        lambda: facts(
            system_on(CUSTOM_DNS_SUBNET),
            zones=[zone(SYSTEM_ZONE_ID, HUB_VNET["id"])],
            vnets=[custom_dns_spoke(peered_to_hub=True)],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-005",
        "managed-vnet-linked",
        lambda: facts(managed_cluster(SYSTEM_ZONE), zones=[zone(SYSTEM_ZONE_ID, MANAGED_VNET)]),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-005",
        "custom-zone-linked",
        lambda: facts(
            on_subnet(managed_cluster(CUSTOM_ZONE), AZURE_DNS_SUBNET),
            zones=[zone(CUSTOM_ZONE_ID, AZURE_DNS_VNET["id"])],
            vnets=[AZURE_DNS_VNET],
        ),
        Outcome.PASSED,
    ),
    RuleCase("PDN-005", "zone-none", lambda: facts(managed_cluster(ZONE_NONE)), Outcome.PASSED),
    RuleCase("PDN-005", "public-cluster", lambda: facts(managed_cluster(PUBLIC)), Outcome.PASSED),
    RuleCase(
        "PDN-005",
        "system-zone-not-read",
        lambda: facts(system_on(AZURE_DNS_SUBNET), vnets=[AZURE_DNS_VNET]),
        Outcome.NOT_ASSESSED,
        check=reason_names(
            "7c8e06f7-212d-4c41-900e-161264b39920.privatelink.westus2.azmk8s.io", SYSTEM_NODE_GROUP
        ),
    ),
    RuleCase(
        "PDN-005",
        "custom-zone-not-read",
        lambda: facts(
            on_subnet(managed_cluster(CUSTOM_ZONE), AZURE_DNS_SUBNET), vnets=[AZURE_DNS_VNET]
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names(CUSTOM_ZONE_ID),
    ),
    RuleCase(
        "PDN-005",
        "unlinked-vnet-not-read",
        lambda: facts(system_on(AZURE_DNS_SUBNET), zones=[zone(SYSTEM_ZONE_ID)]),
        Outcome.NOT_ASSESSED,
        check=reason_names(AZURE_DNS_VNET["id"].lower()),
    ),
]


def test_pdn005_custom_dns_needs_the_hub_peered() -> None:
    """A link to a VNet that is not peered with the spoke is not the hub."""
    result = outcome(
        "PDN-005",
        facts(
            system_on(CUSTOM_DNS_SUBNET),
            zones=[zone(SYSTEM_ZONE_ID, HUB_VNET["id"])],
            vnets=[custom_dns_spoke(peered_to_hub=False)],
        ),
    )
    assert result.outcome is Outcome.FINDINGS
    assert "8.8.8.8" in only_finding(result).message


def test_pdn005_azure_dns_vnet_needs_its_own_link_even_when_peered() -> None:
    vnet = custom_dns_spoke(peered_to_hub=True)
    vnet["properties"]["dhcpOptions"]["dnsServers"] = []
    result = outcome(
        "PDN-005",
        facts(
            system_on(CUSTOM_DNS_SUBNET), zones=[zone(SYSTEM_ZONE_ID, HUB_VNET["id"])], vnets=[vnet]
        ),
    )
    assert result.outcome is Outcome.FINDINGS


def test_pdn005_other_zones_in_the_node_group_are_not_the_api_server_zone() -> None:
    other = zone(
        SYSTEM_ZONE_ID.rsplit("/", 1)[0] + "/privatelink.blob.core.windows.net",
        AZURE_DNS_VNET["id"],
    )
    result = outcome(
        "PDN-005", facts(system_on(AZURE_DNS_SUBNET), zones=[other], vnets=[AZURE_DNS_VNET])
    )
    assert result.outcome is Outcome.NOT_ASSESSED


def test_pdn005_finding_is_on_the_zone() -> None:
    result = outcome("PDN-005", facts(managed_cluster(SYSTEM_ZONE), zones=[zone(SYSTEM_ZONE_ID)]))
    assert only_finding(result).resource == SYSTEM_ZONE_ID.lower()


def test_pdn005_a_zone_read_failure_is_not_assessed_by_declaration() -> None:
    cluster_facts = facts(system_on(AZURE_DNS_SUBNET), vnets=[AZURE_DNS_VNET])
    cluster_facts.inventory.gaps.add(resource_id=SYSTEM_ZONE_ID, reason="AuthorizationFailed")
    result = outcome("PDN-005", cluster_facts)
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "AuthorizationFailed" in result.reason


# -- PDN-007 -------------------------------------------------------------------------------

SYSTEM_FQDN = managed_cluster(SYSTEM_ZONE)["properties"]["privateFQDN"]


def probed(name: str, *probes: Mapping[str, Any]) -> audit_pb2.ClusterFacts:
    """The cluster with an agent report holding hand-made DnsProbe results, shaped as
    agent/probes/dns.py fills them."""
    body = managed_cluster(name)
    report = new_report(body["id"])
    report.coredns.probes.add(
        name=DEFAULT_PROBE_NAME,
        query_type="A",
        server="10.0.0.10:53",
        origin="agent-pod",
        rcode="NOERROR",
        answers=["10.0.0.1"],
        latency_seconds=0.002,
    )
    for fields in probes:
        probe = {
            "name": body["properties"]["privateFQDN"],
            "query_type": "A",
            "server": "10.0.0.10:53",
            "origin": "agent-pod",
            "latency_seconds": 0.004,
            **fields,
        }
        report.coredns.probes.add(**probe)
    return facts(body, report=report)


PDN_007_CASES = [
    RuleCase(
        "PDN-007",
        "nxdomain-from-the-pod",
        lambda: probed(SYSTEM_ZONE, {"rcode": "NXDOMAIN"}),
        Outcome.FINDINGS,
        check=evidence(**{"private_fqdn": SYSTEM_FQDN, "agent-pod A @10.0.0.10:53": "NXDOMAIN"}),
    ),
    RuleCase(
        "PDN-007",
        "public-address-from-the-node",
        lambda: probed(
            SYSTEM_ZONE,
            {"rcode": "NOERROR", "answers": ["10.224.0.4"]},
            {
                "origin": "node",
                "server": "168.63.129.16:53",
                "rcode": "NOERROR",
                "answers": ["20.42.1.7"],
            },
        ),
        Outcome.FINDINGS,
        check=evidence(**{"node A @168.63.129.16:53": "public address 20.42.1.7"}),
    ),
    RuleCase(
        "PDN-007",
        "private-address",
        lambda: probed(SYSTEM_ZONE, {"rcode": "NOERROR", "answers": ["10.224.0.4"]}),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-007",
        "public-cluster-without-probe",
        lambda: probed(PUBLIC),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-007",
        "private-fqdn-not-probed",
        lambda: probed(SYSTEM_ZONE),
        Outcome.NOT_ASSESSED,
        check=reason_names(SYSTEM_FQDN, "--dns-probe"),
    ),
    RuleCase(
        "PDN-007",
        "probe-timed-out",
        lambda: probed(SYSTEM_ZONE, {"error": "timeout after 2s"}),
        Outcome.NOT_ASSESSED,
        check=reason_names("timeout after 2s"),
    ),
    RuleCase(
        "PDN-007",
        "no-agent-report",
        lambda: facts(managed_cluster(SYSTEM_ZONE)),
        Outcome.NOT_ASSESSED,
        check=reason_names("no agent report"),
    ),
]


def test_pdn007_probe_name_compares_without_root_dot_and_case() -> None:
    result = outcome(
        "PDN-007",
        probed(SYSTEM_ZONE, {"name": SYSTEM_FQDN.upper() + ".", "rcode": "NXDOMAIN"}),
    )
    assert result.outcome is Outcome.FINDINGS


def test_pdn007_vnet_address_space_counts_as_private() -> None:
    """A VNet using public addresses privately: its endpoint's address is not public."""
    vnet = arm_json("network/VirtualNetworkGet.json")
    vnet["properties"]["addressSpace"]["addressPrefixes"] = ["20.42.0.0/16"]
    cluster_facts = probed(SYSTEM_ZONE, {"rcode": "NOERROR", "answers": ["20.42.1.7"]})
    cluster_facts.inventory.virtual_networks.append(convert.virtual_network(vnet))
    assert outcome("PDN-007", cluster_facts).outcome is Outcome.PASSED


def test_pdn007_cname_then_private_address_passes() -> None:
    answers = ["x.privatelink.westus2.azmk8s.io.", "10.224.0.4"]
    result = outcome("PDN-007", probed(SYSTEM_ZONE, {"rcode": "NOERROR", "answers": answers}))
    assert result.outcome is Outcome.PASSED


def test_pdn007_noerror_without_address_fires() -> None:
    result = outcome("PDN-007", probed(SYSTEM_ZONE, {"rcode": "NOERROR"}))
    assert dict(only_finding(result).evidence)["agent-pod A @10.0.0.10:53"] == (
        "NOERROR without an address"
    )


def test_pdn007_a_failure_stands_beside_an_unanswered_probe() -> None:
    result = outcome(
        "PDN-007",
        probed(SYSTEM_ZONE, {"rcode": "NXDOMAIN"}, {"origin": "node", "rcode": "SERVFAIL"}),
    )
    assert result.outcome is Outcome.FINDINGS
    assert "SERVFAIL" in result.reason


def test_pdn007_coredns_gap_is_not_assessed_by_declaration() -> None:
    cluster_facts = probed(SYSTEM_ZONE, {"rcode": "NXDOMAIN"})
    cluster_facts.report.gaps.add(gatherer="coredns", resource="*", reason="forbidden")
    assert outcome("PDN-007", cluster_facts).outcome is Outcome.NOT_ASSESSED


# -- PDN-008, PDN-009, PDN-010 -------------------------------------------------------------

RANGES = ["73.140.245.0/24"]  # hand-made

PDN_008_CASES = [
    RuleCase(
        "PDN-008",
        "public-fqdn-enabled",
        lambda: facts(managed_cluster(PUBLIC_FQDN)),
        Outcome.FINDINGS,
        check=evidence(
            enable_private_cluster_public_fqdn="true",
            fqdn="dnsprefix1-ee788a1f.hcp.location1.azmk8s.io",
        ),
    ),
    RuleCase(
        "PDN-008",
        "public-fqdn-flag-unset",
        lambda: facts(managed_cluster(CUSTOM_ZONE)),
        Outcome.FINDINGS,
        check=evidence(enable_private_cluster_public_fqdn="unset (default true)"),
    ),
    RuleCase(
        "PDN-008",
        "public-fqdn-disabled",
        lambda: facts(managed_cluster(SYSTEM_ZONE)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-008",
        "zone-none-needs-the-public-fqdn",
        lambda: facts(managed_cluster(ZONE_NONE)),
        Outcome.PASSED,
    ),
    RuleCase("PDN-008", "public-cluster", lambda: facts(managed_cluster(PUBLIC)), Outcome.PASSED),
]

PDN_009_CASES = [
    RuleCase(
        "PDN-009",
        "private-cluster-with-ranges",
        lambda: facts(cluster(SYSTEM_ZONE, authorizedIPRanges=RANGES)),
        Outcome.FINDINGS,
        check=evidence(authorized_ip_ranges="73.140.245.0/24"),
    ),
    RuleCase(
        "PDN-009",
        "private-cluster-as-recorded",
        lambda: facts(managed_cluster(SYSTEM_ZONE)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-009",
        "public-cluster-with-ranges",
        lambda: facts(cluster(PUBLIC, authorizedIPRanges=RANGES)),
        Outcome.PASSED,
    ),
]

PDN_010_CASES = [
    RuleCase(
        "PDN-010",
        "public-cluster-as-recorded",
        lambda: facts(managed_cluster(PUBLIC)),
        Outcome.FINDINGS,
        check=evidence(
            authorized_ip_ranges="none",
            fqdn="cliakstest-clitesttqjlinin3-79a739-2863wiwc.hcp.westus2.azmk8s.io",
        ),
    ),
    RuleCase(
        "PDN-010",
        "public-cluster-with-ranges",
        lambda: facts(cluster(PUBLIC, authorizedIPRanges=RANGES)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-010",
        "private-cluster-without-ranges",
        lambda: facts(managed_cluster(SYSTEM_ZONE)),
        Outcome.PASSED,
    ),
]


@pytest.mark.parametrize("name", [PUBLIC_FQDN, CUSTOM_ZONE, SYSTEM_ZONE, ZONE_NONE])
def test_pdn010_skips_every_private_cluster(name: str) -> None:
    assert outcome("PDN-010", facts(managed_cluster(name))).outcome is Outcome.PASSED


@pytest.mark.parametrize(("rule_id", "severity"), [("PDN-008", "LOW"), ("PDN-009", "LOW")])
def test_exposure_severities(rule_id: str, severity: str) -> None:
    body = cluster(PUBLIC_FQDN, authorizedIPRanges=RANGES)
    finding = only_finding(outcome(rule_id, facts(body)))
    assert finding.severity == audit_pb2.Severity.Value(f"SEVERITY_{severity}")
    assert finding.resource == body["id"].lower()


# -- PDN-011 -------------------------------------------------------------------------------


def api_subnet(delegation: str | None, prefix: str | None = None) -> dict[str, Any]:
    """subnet1 of VirtualNetworkGetWithSubnetDelegation (10.0.1.0/24), its published
    delegation's service changed, or removed when ``delegation`` is None."""
    vnet = arm_json("network/VirtualNetworkGetWithSubnetDelegation.json")
    subnet: dict[str, Any] = vnet["properties"]["subnets"][0]
    if delegation is None:
        subnet["properties"]["delegations"] = []
    else:
        subnet["properties"]["delegations"][0]["properties"]["serviceName"] = delegation
    if prefix is not None:
        subnet["properties"]["addressPrefix"] = prefix
    return subnet


MANAGED_CLUSTERS = "Microsoft.ContainerService/managedClusters"


def vnet_integrated(subnet: Mapping[str, Any] | None, subnet_id: str) -> audit_pb2.ClusterFacts:
    body = cluster(SYSTEM_ZONE, enableVnetIntegration=True, subnetId=subnet_id)
    return facts(body, subnets=[subnet] if subnet is not None else [])


def subnet_get() -> dict[str, Any]:
    """SubnetGet as published: 10.0.0.0/16, no delegation."""
    subnet: dict[str, Any] = arm_json("network/SubnetGet.json")
    return subnet


PDN_011_CASES = [
    RuleCase(
        "PDN-011",
        "subnet-not-delegated",
        lambda: vnet_integrated(subnet_get(), subnet_get()["id"]),
        Outcome.FINDINGS,
        check=evidence(delegated="false", delegations="none", prefix_length="16"),
    ),
    RuleCase(
        "PDN-011",
        "delegated-elsewhere-and-too-small",
        lambda: vnet_integrated(
            api_subnet("Microsoft.Provider/resourceType", "10.0.1.0/29"), api_subnet(None)["id"]
        ),
        Outcome.FINDINGS,
        check=evidence(
            delegated="false", delegations="Microsoft.Provider/resourceType", prefix_length="29"
        ),
    ),
    RuleCase(
        "PDN-011",
        "delegated-but-29",
        lambda: vnet_integrated(
            api_subnet(MANAGED_CLUSTERS, "10.0.1.0/29"), api_subnet(None)["id"]
        ),
        Outcome.FINDINGS,
        check=evidence(delegated="true", prefix_length="29"),
    ),
    RuleCase(
        "PDN-011",
        "delegated-24",
        lambda: vnet_integrated(api_subnet(MANAGED_CLUSTERS), api_subnet(None)["id"]),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-011",
        "delegated-28",
        lambda: vnet_integrated(
            api_subnet(MANAGED_CLUSTERS.lower(), "10.0.1.0/28"), api_subnet(None)["id"].upper()
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-011",
        "vnet-integration-on-managed-vnet",
        lambda: facts(cluster(SYSTEM_ZONE, enableVnetIntegration=True)),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-011", "no-vnet-integration", lambda: facts(managed_cluster(PUBLIC)), Outcome.PASSED
    ),
    RuleCase(
        "PDN-011",
        "subnet-not-read",
        lambda: vnet_integrated(None, subnet_get()["id"]),
        Outcome.NOT_ASSESSED,
        check=reason_names(subnet_get()["id"]),
    ),
]


def test_pdn011_finding_is_on_the_subnet() -> None:
    subnet = subnet_get()
    finding = only_finding(outcome("PDN-011", vnet_integrated(subnet, subnet["id"])))
    assert finding.resource == subnet["id"].lower()
    assert "not delegated" in finding.message


def test_pdn011_a_subnet_read_failure_is_not_assessed_by_declaration() -> None:
    cluster_facts = vnet_integrated(None, subnet_get()["id"])
    cluster_facts.inventory.gaps.add(resource_id=subnet_get()["id"], reason="NotFound")
    result = outcome("PDN-011", cluster_facts)
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "NotFound" in result.reason


# -- every case ------------------------------------------------------------------------------

# -- PDN-006 -------------------------------------------------------------------------------

SYSTEM_RECORD = "cliakstest-clitestarhqathbb-8ecadf-40536b9a"
"""SYSTEM_ZONE's privateFQDN label, the A record AKS writes into its zone."""
CUSTOM_RECORD = "domain1"
"""CUSTOM_ZONE's privateFQDN domain1.privatelink.location1.azmk8s.io, in its custom zone."""
NIC_ADDRESS = "172.20.2.4"
"""ipconfig1 of the published NetworkInterfaceGet."""


def a_record(name: str, *addresses: str) -> dict[str, Any]:
    """RecordSetAGet renamed, with its aRecords replaced when addresses are given."""
    body: dict[str, Any] = arm_json("privatedns/RecordSetAGet.json")
    body["name"] = name
    if addresses:
        body["properties"]["aRecords"] = [{"ipv4Address": a} for a in addresses]
    return body


def zone_with_records(zone_id: str, *records: dict[str, Any]) -> inventory_pb2.PrivateDnsZone:
    body = arm_json("privatedns/PrivateZoneGet.json")
    body.update(id=zone_id, name=zone_id.rsplit("/", 1)[-1])
    return convert.private_dns_zone(body, [], records)


def api_endpoint(
    body: Mapping[str, Any], *, targets_cluster: bool = True, from_nic: bool = True
) -> inventory_pb2.PrivateEndpoint:
    """PrivateEndpointGet moved into the cluster's node resource group and connected to the
    cluster; ``from_nic`` drops the addresses the endpoint body carries, so they come from
    NetworkInterfaceGet (172.20.2.4) as for an AKS endpoint; otherwise they are its
    published ipConfigurations (192.168.0.6, 192.168.0.7)."""
    endpoint = arm_json("network/PrivateEndpointGet.json")
    group = body["properties"]["nodeResourceGroup"]
    endpoint["id"] = (
        f"{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Network/privateEndpoints/"
        "kube-apiserver"
    )
    if targets_cluster:
        connection = endpoint["properties"]["privateLinkServiceConnections"][0]
        connection["properties"]["privateLinkServiceId"] = body["id"]
    if not from_nic:
        return convert.private_endpoint(endpoint)
    endpoint["properties"]["ipConfigurations"] = []
    endpoint["properties"]["customDnsConfigs"] = []
    return convert.private_endpoint(endpoint, [arm_json("network/NetworkInterfaceGet.json")])


def pdn006_facts(
    body: dict[str, Any],
    zone_id: str,
    *records: dict[str, Any],
    endpoint: inventory_pb2.PrivateEndpoint | None = None,
    gaps: Iterable[inventory_pb2.InventoryGap] = (),
) -> Callable[[], audit_pb2.ClusterFacts]:
    def build() -> audit_pb2.ClusterFacts:
        cluster_facts = facts(body, zones=[zone_with_records(zone_id, *records)])
        if endpoint is not None:
            cluster_facts.inventory.private_endpoints.append(endpoint)
        cluster_facts.inventory.gaps.extend(gaps)
        return cluster_facts

    return build


ENDPOINT_LISTING_FORBIDDEN = inventory_pb2.InventoryGap(
    resource_id=f"{SUBSCRIPTION}/resourceGroups/{SYSTEM_NODE_GROUP}/providers/"
    "Microsoft.Network/privateEndpoints",
    reason="forbidden",
    message="403 AuthorizationFailed: the client may not list private endpoints",
)


ENDPOINT_NIC_THROTTLED = inventory_pb2.InventoryGap(
    resource_id=f"{SUBSCRIPTION}/resourceGroups/{SYSTEM_NODE_GROUP}/providers/"
    "Microsoft.Network/networkInterfaces/kube-apiserver.nic.0000",
    reason="throttled",
    message="429 TooManyRequests: retry after the Retry-After interval",
)


def system_cluster() -> dict[str, Any]:
    return managed_cluster(SYSTEM_ZONE)


def custom_cluster() -> dict[str, Any]:
    return managed_cluster(CUSTOM_ZONE)


PDN_006_CASES = [
    RuleCase(
        "PDN-006",
        "system-zone-record-points-elsewhere",
        pdn006_facts(
            system_cluster(),
            SYSTEM_ZONE_ID,
            a_record(SYSTEM_RECORD),
            endpoint=api_endpoint(system_cluster()),
        ),
        Outcome.FINDINGS,
        check=evidence(
            record=SYSTEM_RECORD,
            record_addresses="1.2.3.4",
            endpoint_addresses=NIC_ADDRESS,
            address_source="networkInterface",
        ),
    ),
    RuleCase(
        "PDN-006",
        "system-zone-record-missing",
        pdn006_facts(
            system_cluster(),
            SYSTEM_ZONE_ID,
            arm_json("privatedns/RecordSetAGet.json"),
            endpoint=api_endpoint(system_cluster()),
        ),
        Outcome.FINDINGS,
        check=evidence(record=SYSTEM_RECORD, record_addresses="none"),
    ),
    RuleCase(
        "PDN-006",
        "custom-zone-record-with-a-stale-extra-address",
        pdn006_facts(
            custom_cluster(),
            CUSTOM_ZONE_ID,
            a_record(CUSTOM_RECORD, NIC_ADDRESS, "10.0.0.99"),
            endpoint=api_endpoint(custom_cluster()),
        ),
        Outcome.FINDINGS,
        check=evidence(
            record=CUSTOM_RECORD,
            record_addresses=f"10.0.0.99,{NIC_ADDRESS}",
            endpoint_addresses=NIC_ADDRESS,
        ),
    ),
    RuleCase(
        "PDN-006",
        "record-missing-while-endpoint-listing-forbidden",
        pdn006_facts(system_cluster(), SYSTEM_ZONE_ID, gaps=[ENDPOINT_LISTING_FORBIDDEN]),
        Outcome.NOT_ASSESSED,
        check=reason_names("privateEndpoints", "forbidden"),
    ),
    RuleCase(
        "PDN-006",
        "system-zone-record-is-the-endpoint-nic-address",
        pdn006_facts(
            system_cluster(),
            SYSTEM_ZONE_ID,
            a_record(SYSTEM_RECORD, NIC_ADDRESS),
            endpoint=api_endpoint(system_cluster()),
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-006",
        "custom-zone-record-is-the-endpoint-ip-configurations",
        pdn006_facts(
            custom_cluster(),
            CUSTOM_ZONE_ID,
            a_record(CUSTOM_RECORD, "192.168.0.7", "192.168.0.6"),
            endpoint=api_endpoint(custom_cluster(), from_nic=False),
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "PDN-006",
        "zone-none-has-no-private-record",
        lambda: facts(managed_cluster(ZONE_NONE)),
        Outcome.PASSED,
    ),
    RuleCase("PDN-006", "public-cluster", lambda: facts(managed_cluster(PUBLIC)), Outcome.PASSED),
    RuleCase(
        "PDN-006",
        "endpoint-nic-read-throttled",
        pdn006_facts(
            system_cluster(),
            SYSTEM_ZONE_ID,
            a_record(SYSTEM_RECORD, NIC_ADDRESS),
            gaps=[ENDPOINT_NIC_THROTTLED],
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names("networkInterfaces/kube-apiserver.nic.0000", "throttled"),
    ),
    RuleCase(
        "PDN-006",
        "no-endpoint-connects-to-the-cluster",
        pdn006_facts(
            system_cluster(),
            SYSTEM_ZONE_ID,
            a_record(SYSTEM_RECORD, NIC_ADDRESS),
            endpoint=api_endpoint(system_cluster(), targets_cluster=False),
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names("no private endpoint", SYSTEM_NODE_GROUP),
    ),
    RuleCase(
        "PDN-006",
        "zone-not-read",
        lambda: facts(system_cluster()),
        Outcome.NOT_ASSESSED,
        check=reason_names("was not read"),
    ),
    RuleCase(
        "PDN-006",
        "vnet-integration-has-no-private-endpoint",
        lambda: facts(cluster(SYSTEM_ZONE, enableVnetIntegration=True)),
        Outcome.NOT_ASSESSED,
        check=reason_names("VNet Integration", "internal load balancer"),
    ),
]


def test_pdn006_finding_is_critical_and_on_the_record_set() -> None:
    result = outcome("PDN-006", PDN_006_CASES[0].facts())
    finding = only_finding(result)
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.resource == f"{SYSTEM_ZONE_ID.lower()}/a/{SYSTEM_RECORD}"
    assert "nothing answers on" in finding.message


CASES: list[RuleCase] = [
    *PDN_001_CASES,
    *PDN_002_CASES,
    *PDN_003_CASES,
    *PDN_005_CASES,
    *PDN_006_CASES,
    *PDN_007_CASES,
    *PDN_008_CASES,
    *PDN_009_CASES,
    *PDN_010_CASES,
    *PDN_011_CASES,
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_through_the_engine(case: RuleCase) -> None:
    """Each case on the family's rule objects, so the file runs before they are registered
    (tests/unit/rules/test_catalogue.py runs them again from the registry)."""
    settings = RuleSettings.model_validate(dict(case.settings))
    result = evaluate_rule(FAMILY[case.rule_id], ClusterView(case.facts()), settings)
    assert result.outcome is case.expect, f"{result.outcome}: {result.reason}"
    if case.expect is Outcome.FINDINGS:
        assert result.findings and all(f.rule_id == case.rule_id for f in result.findings)
    else:
        assert result.findings == ()
    if case.expect is Outcome.NOT_ASSESSED:
        assert result.reason
    if case.check is not None:
        case.check(result)


def test_every_implemented_rule_has_findings_and_passed_cases() -> None:
    have: dict[str, set[Outcome]] = {rule_id: set() for rule_id in FAMILY}
    for case in CASES:
        have[case.rule_id].add(case.expect)
    assert [r for r, seen in have.items() if not {Outcome.FINDINGS, Outcome.PASSED} <= seen] == []
