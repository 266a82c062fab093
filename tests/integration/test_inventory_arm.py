"""ArmReader against the sandbox ARM server (HTTPS on loopback, throwaway CA, Entra ID tokens)
with the official azure-mgmt clients unchanged."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from netaudit.collector.analysis.fleet import cluster_key
from netaudit.collector.config import AzureSettings
from netaudit.collector.inventory.arm import (
    ArmAuthenticationError,
    ArmReader,
    ArmRequestCounts,
    ArmUnreachableError,
    UnknownSubscriptionError,
    client_secret_credential,
    make_credential,
)
from netaudit.collector.rules import RULES, RULES_BY_ID, RuleOutcome, RuleSettings, evaluate_cluster
from netaudit.sandbox.arm import ArmFaults, ArmServer
from netaudit.sandbox.arm_data import ArmData
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.sandbox.sample_fleet import load_sample_fleet
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES

PLATFORM = "aaaaaaaa-0000-0000-0000-000000000001"
SHOP = "bbbbbbbb-0000-0000-0000-000000000002"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


def reader(
    sandbox: Sandbox, *subscriptions: str, secret: str | None = None, **options: object
) -> ArmReader:
    credential = client_secret_credential(
        sandbox.tenant_id,
        sandbox.client_id,
        sandbox.client_secret if secret is None else secret,
        sandbox.authority_url,
        str(sandbox.ca_pem),
    )
    return ArmReader(
        credential,
        subscriptions or sandbox.subscriptions,
        base_url=sandbox.arm_url,
        connection_verify=str(sandbox.ca_pem),
        clock=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def fleet(sandbox: Sandbox) -> dict[str, inventory_pb2.ClusterInventory]:
    return {inventory.name: inventory for inventory in reader(sandbox).read()}


def test_clusters_per_subscription(fleet: dict[str, inventory_pb2.ClusterInventory]) -> None:
    by_subscription = sorted((i.subscription_id, name) for name, i in fleet.items())
    assert by_subscription == [
        (PLATFORM, "aks-cni-neu"),
        (PLATFORM, "aks-kubenet-weu"),
        (SHOP, "aks-overlay-priv-weu"),
    ]
    assert all(i.refreshed_at.ToDatetime(tzinfo=UTC) == NOW for i in fleet.values())
    assert all(list(i.gaps) == [] for i in fleet.values())


def test_node_subnet_and_its_usage(fleet: dict[str, inventory_pb2.ClusterInventory]) -> None:
    cni = fleet["aks-cni-neu"]
    assert [
        (p.name, p.max_count if p.HasField("max_count") else p.count, p.max_pods)
        for p in cni.agent_pools
    ] == [
        ("nodepool1", 10, 30),
        ("npwin", 1, 30),
    ]
    (subnet,) = cni.subnets
    assert (subnet.name, list(subnet.address_prefixes)) == ("snet-cni", ["10.20.0.0/24"])
    (vnet,) = cni.virtual_networks
    usages = [(u.subnet_id.rsplit("/", 1)[1], u.current_value, u.limit) for u in vnet.subnet_usages]
    assert usages == [("snet-cni", 248.0, 251.0)]


def test_kubenet_route_table_is_on_its_subnet(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    (subnet,) = fleet["aks-kubenet-weu"].subnets
    assert subnet.route_table_id.endswith("/routeTables/rt-aks-kubenet-weu")


def test_overlay_cluster_api_server_access_and_its_zone(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    overlay = fleet["aks-overlay-priv-weu"]
    access = overlay.api_server_access
    assert access.enable_private_cluster
    assert access.private_dns_zone == "none"
    assert access.HasField("enable_private_cluster_public_fqdn")
    assert not access.enable_private_cluster_public_fqdn
    (zone,) = overlay.private_dns_zones
    assert zone.name == "privatelink.westeurope.azmk8s.io"
    assert [link.virtual_network_id.rsplit("/", 1)[1] for link in zone.virtual_network_links] == [
        "vnet-shop"
    ]
    assert {r.name: list(r.ipv4_addresses) for r in zone.a_records} == {
        "shop-weu-k8s-7c1e4a2b": ["10.30.0.7"],
        "shop-weu-k8s-old-0f1e2d3c": ["10.30.0.99"],
    }


def test_rules_find_the_sample_problems_in_what_arm_returned(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    found = set()
    errors = []
    for inventory in fleet.values():
        facts = audit_pb2.ClusterFacts(
            cluster_key=cluster_key(inventory.arm_resource_id), inventory=inventory
        )
        facts.evaluated_at.FromDatetime(NOW)
        evaluation = evaluate_cluster(facts, RuleSettings(), RULES)
        errors += [(o.rule_id, o.reason) for o in evaluation.outcomes if o.outcome == "error"]
        for finding in evaluation.findings:
            found.add(
                (
                    inventory.name,
                    finding.rule_id,
                    finding.evidence.get("required") or finding.evidence.get("ratio"),
                )
            )
    assert errors == []
    assert found >= {
        ("aks-cni-neu", "CNI-001", "403"),
        ("aks-cni-neu", "CNI-002", "0.988"),
        ("aks-kubenet-weu", "KUB-001", None),
        ("aks-overlay-priv-weu", "PDN-001", None),
    }


def test_settings_build_the_credential_and_the_reader(sandbox: Sandbox) -> None:
    azure = AzureSettings(
        subscriptions=[SHOP],
        arm_url=sandbox.arm_url,
        authority_url=sandbox.authority_url,
        tenant_id=sandbox.tenant_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ca_bundle=sandbox.ca_pem,
    )
    inventories = ArmReader.from_settings(azure, make_credential(azure)).read_subscription(SHOP)
    assert [i.name for i in inventories] == ["aks-overlay-priv-weu"]


def test_forbidden_vnet_is_a_gap_not_a_crash(tmp_path: Path) -> None:
    faults = ArmFaults.forbidden(r"/virtualNetworks/vnet-neu(/usages)?$")
    with start_sandbox(tmp_path, arm_faults=faults) as running:
        inventories = {i.name: i for i in reader(running, PLATFORM).read()}
    cni = inventories["aks-cni-neu"]
    assert [(g.resource_id.rsplit("/", 1)[1], g.reason) for g in cni.gaps] == [
        ("vnet-neu", "forbidden")
    ]
    assert "403 AuthorizationFailed" in cni.gaps[0].message
    assert [s.name for s in cni.subnets] == ["snet-cni"]
    assert list(cni.virtual_networks) == []
    assert list(inventories["aks-kubenet-weu"].gaps) == []


def test_a_response_that_never_comes_is_a_timeout_gap(tmp_path: Path) -> None:
    faults = ArmFaults.slow(r"/virtualNetworks/vnet-shop/usages$", delay_seconds=2)
    with start_sandbox(tmp_path, arm_faults=faults) as running:
        (overlay,) = reader(running, SHOP, retry_total=0, read_timeout=0.5).read()
    assert [(g.resource_id.rsplit("/", 1)[1], g.reason) for g in overlay.gaps] == [
        ("vnet-shop", "timeout")
    ]
    assert [s.name for s in overlay.subnets] == ["snet-overlay"]


def test_throttled_list_is_retried_after_retry_after(tmp_path: Path) -> None:
    faults = ArmFaults.throttled(r"/providers/Microsoft.ContainerService/managedClusters$", times=1)
    counts = ArmRequestCounts()
    with start_sandbox(tmp_path, arm_faults=faults) as running:
        assert [i.name for i in reader(running, SHOP, counts=counts).read()] == [
            "aks-overlay-priv-weu"
        ]
    assert counts.throttled == 1, "the 429 is counted"
    assert counts.requests > 2, "every attempt is counted, the retried one included"


def test_wrong_secret_is_one_clear_line(sandbox: Sandbox) -> None:
    with pytest.raises(ArmAuthenticationError) as caught:
        reader(sandbox, SHOP, secret="wrong").read()
    message = str(caught.value)
    assert "\n" not in message
    assert "AADSTS7000215" in message
    assert message.startswith("cannot authenticate to Azure with ClientSecretCredential:")
    assert "check azure.credential, azure.tenant_id, azure.client_id, its secret" in message


def test_unknown_subscription_names_the_setting(sandbox: Sandbox) -> None:
    with pytest.raises(
        UnknownSubscriptionError, match=r"subscription cccccccc-.* check azure.subscriptions"
    ):
        reader(sandbox, "cccccccc-0000-0000-0000-000000000003").read()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_arm_names_the_url(sandbox: Sandbox) -> None:
    dead = f"https://127.0.0.1:{closed_port()}"
    credential = client_secret_credential(
        sandbox.tenant_id,
        sandbox.client_id,
        sandbox.client_secret,
        sandbox.authority_url,
        str(sandbox.ca_pem),
    )
    subject = ArmReader(
        credential, [SHOP], base_url=dead, connection_verify=str(sandbox.ca_pem), retry_total=0
    )
    with pytest.raises(ArmUnreachableError, match=f"cannot reach Azure Resource Manager at {dead}"):
        subject.read()


def test_untrusted_certificate_points_at_the_ca_bundle(sandbox: Sandbox) -> None:
    credential = client_secret_credential(
        sandbox.tenant_id, sandbox.client_id, sandbox.client_secret, sandbox.authority_url
    )
    subject = ArmReader(credential, [SHOP], base_url=sandbox.arm_url, retry_total=0)
    with pytest.raises(
        ArmUnreachableError, match=r"CERTIFICATE_VERIFY_FAILED.*set azure\.ca_bundle"
    ):
        subject.read()


def test_agent_pools_are_listed_when_the_body_has_none() -> None:
    path = (
        SHARED_FIXTURES
        / "arm/managedclusters/azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
    )
    cluster = json.loads(path.read_text())
    pools = json.loads(
        (
            SHARED_FIXTURES
            / "arm/managedclusters/azcli-recording_AgentPoolsList_linux-and-windows.json"
        ).read_text()
    )["value"]
    bare = copy.deepcopy(cluster)
    del bare["properties"]["agentPoolProfiles"]
    data = ArmData(resources=[bare, *pools])
    with ArmServer(data) as arm:
        credential = client_secret_credential(
            data.tenant_id,
            data.client_id,
            data.client_secret,
            arm.authority_url,
            str(arm.ca_pem_path),
        )
        subscription = "00000000-0000-0000-0000-000000000000"
        subject = ArmReader(
            credential, [subscription], base_url=arm.url, connection_verify=str(arm.ca_pem_path)
        )
        (inventory,) = subject.read()
    assert [(p.name, p.os_type) for p in inventory.agent_pools] == [
        ("nodepool1", "Linux"),
        ("npwin", "Windows"),
    ]


# -- NSGs, the API server's private endpoint, AGIC's gateway, the virtual node subnet ---------

NODE_GROUP = "MC_rg-shop-weu_aks-overlay-priv-weu_westeurope"


def test_overlay_node_subnet_nsg_is_read_with_its_rules(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    overlay = fleet["aks-overlay-priv-weu"]
    (nsg,) = overlay.network_security_groups
    assert nsg.name == "nsg-snet-overlay"
    assert [(r.name, r.priority, r.access) for r in nsg.security_rules][-2:] == [
        ("DenyInternetInBound", 4000, "Deny"),
        ("DenyAllInBoundCustom", 4096, "Deny"),
    ]
    assert len(nsg.default_security_rules) == 6
    assert [s.rsplit("/", 1)[1] for s in nsg.subnet_ids] == ["snet-overlay"]
    assert list(fleet["aks-cni-neu"].network_security_groups) == []


def test_api_server_endpoint_address_comes_from_its_nic(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    overlay = fleet["aks-overlay-priv-weu"]
    (endpoint,) = overlay.private_endpoints
    assert endpoint.name == "kube-apiserver"
    assert (
        endpoint.connections[0].private_link_service_id.lower() == overlay.arm_resource_id.lower()
    )
    assert (list(endpoint.private_ip_addresses), endpoint.address_source) == (
        ["10.30.0.7"],
        "networkInterface",
    )
    assert all(list(i.private_endpoints) == [] for n, i in fleet.items() if n != overlay.name)


def test_vnet_lists_the_subnets_it_embeds(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    (vnet,) = fleet["aks-overlay-priv-weu"].virtual_networks
    assert [s.rsplit("/", 1)[1] for s in vnet.subnet_ids] == ["snet-overlay", "snet-agc"]


def rule_outcome(inventory: inventory_pb2.ClusterInventory, rule_id: str) -> RuleOutcome:
    facts = audit_pb2.ClusterFacts(
        cluster_key=cluster_key(inventory.arm_resource_id), inventory=inventory
    )
    facts.evaluated_at.FromDatetime(NOW)
    return evaluate_cluster(facts, RuleSettings(), [RULES_BY_ID[rule_id]]).outcome(rule_id)


def test_the_four_rules_are_judged_on_the_sample_fleet(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    outcomes = {
        (name, rule_id): rule_outcome(inventory, rule_id).outcome
        for name, inventory in fleet.items()
        for rule_id in ("OVL-004", "PDN-006", "AGW-001", "VND-003")
    }
    assert set(outcomes.values()) == {"passed"}


Resources = list[dict[str, Any]]


def body_named(resources: Resources, name: str) -> dict[str, Any]:
    return next(body for body in resources if body.get("name") == name)


def read_altered(
    alter: Callable[[Resources], None],
    faults: ArmFaults | None = None,
    subscription: str = SHOP,
    latest_report: Callable[[str], report_pb2.Report | None] = lambda _key: None,
) -> dict[str, inventory_pb2.ClusterInventory]:
    """The sample fleet's ARM data with ``alter`` applied, read by ArmReader through the
    real clients from a sandbox ARM server of its own."""
    sample = load_sample_fleet()
    resources = copy.deepcopy(sample.arm.resources)
    alter(resources)
    data = ArmData(
        resources=resources,
        usages=copy.deepcopy(sample.arm.usages),
        tenant_id=sample.tenant_id,
        client_id=sample.client_id,
        client_secret=sample.client_secret,
        subscription_names=dict(sample.subscriptions),
    )
    with ArmServer(data, faults=faults) as arm:
        credential = client_secret_credential(
            data.tenant_id,
            data.client_id,
            data.client_secret,
            arm.authority_url,
            str(arm.ca_pem_path),
        )
        subject = ArmReader(
            credential,
            [subscription],
            base_url=arm.url,
            connection_verify=str(arm.ca_pem_path),
            retry_total=0,
            clock=lambda: NOW,
            latest_report=latest_report,
        )
        return {inventory.name: inventory for inventory in subject.read()}


def test_a_forbidden_nsg_is_a_gap_and_ovl004_is_not_assessed() -> None:
    faults = ArmFaults.forbidden(r"/networkSecurityGroups/nsg-snet-overlay$")
    overlay = read_altered(lambda resources: None, faults)["aks-overlay-priv-weu"]
    assert [(g.resource_id.rsplit("/", 1)[1], g.reason) for g in overlay.gaps] == [
        ("nsg-snet-overlay", "forbidden")
    ]
    outcome = rule_outcome(overlay, "OVL-004")
    assert outcome.outcome == "not_assessed"
    assert "nsg-snet-overlay (forbidden" in outcome.reason


def test_ovl004_finds_a_deny_moved_above_the_pod_allows() -> None:
    def deny_first(resources: Resources) -> None:
        nsg = body_named(resources, "nsg-snet-overlay")
        deny = body_named(nsg["properties"]["securityRules"], "DenyAllInBoundCustom")
        deny["properties"]["priority"] = 105

    overlay = read_altered(deny_first)["aks-overlay-priv-weu"]
    outcome = rule_outcome(overlay, "OVL-004")
    assert outcome.outcome == "findings"
    (finding,) = outcome.findings
    assert finding.evidence["inbound.pod-to-pod"] == "DenyAllInBoundCustom@105"
    assert finding.evidence["inbound.node-to-pod"] == "DenyAllInBoundCustom@105"


def custom_zone(resources: Resources) -> None:
    """The overlay cluster on its custom zone privatelink.westeurope.azmk8s.io (rg-dns),
    whose A record shop-weu-k8s-7c1e4a2b holds 10.30.0.7."""
    cluster = body_named(resources, "aks-overlay-priv-weu")
    zone = body_named(resources, "privatelink.westeurope.azmk8s.io")
    cluster["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone["id"]


def test_pdn006_compares_the_zone_record_with_the_endpoint_nic() -> None:
    matching = read_altered(custom_zone)["aks-overlay-priv-weu"]
    assert rule_outcome(matching, "PDN-006").outcome == "passed"

    def moved_nic(resources: Resources) -> None:
        custom_zone(resources)
        nic = next(b for b in resources if b["id"].endswith("/networkInterfaces/" + b["name"]))
        nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] = "10.30.0.10"

    moved = read_altered(moved_nic)["aks-overlay-priv-weu"]
    outcome = rule_outcome(moved, "PDN-006")
    assert outcome.outcome == "findings"
    assert outcome.findings[0].evidence["record_addresses"] == "10.30.0.7"
    assert outcome.findings[0].evidence["endpoint_addresses"] == "10.30.0.10"


def test_a_forbidden_endpoint_listing_is_a_gap_and_pdn006_is_not_assessed() -> None:
    faults = ArmFaults.forbidden(
        rf"/resourceGroups/{NODE_GROUP}/providers/Microsoft.Network/privateEndpoints$"
    )
    overlay = read_altered(custom_zone, faults)["aks-overlay-priv-weu"]
    assert [(g.resource_id.rsplit("/", 1)[1], g.reason) for g in overlay.gaps] == [
        ("privateEndpoints", "forbidden")
    ]
    assert list(overlay.private_endpoints) == []
    outcome = rule_outcome(overlay, "PDN-006")
    assert outcome.outcome == "not_assessed"
    assert "privateEndpoints (forbidden" in outcome.reason


GATEWAY_ID = (
    f"/subscriptions/{SHOP}/resourceGroups/{NODE_GROUP}/providers/Microsoft.Network/"
    "applicationGateways/agw-shop"
)


def with_agic(operational_state: str | None) -> Callable[[Resources], None]:
    """The AGIC add-on (shape of the recorded ingress-appgw cluster) on the overlay cluster,
    targeting agw-shop: the published ApplicationGatewayGet moved there, or none."""

    def alter(resources: Resources) -> None:
        recorded = json.loads(
            (
                SHARED_FIXTURES
                / "arm/managedclusters/azcli-recording_ManagedClusterGet_ingress-appgw-addon.json"
            ).read_text()
        )
        addon = recorded["properties"]["addonProfiles"]["ingressApplicationGateway"]
        addon["config"]["effectiveApplicationGatewayId"] = GATEWAY_ID
        cluster = body_named(resources, "aks-overlay-priv-weu")
        cluster["properties"]["addonProfiles"] = {"ingressApplicationGateway": addon}
        if operational_state is None:
            return
        gateway = json.loads(
            (SHARED_FIXTURES / "arm/network/ApplicationGatewayGet.json").read_text()
        )
        body = gateway["responses"]["200"]["body"]
        body.update(id=GATEWAY_ID, name="agw-shop")
        body["properties"]["operationalState"] = operational_state
        resources.append(body)

    return alter


def test_agic_gateway_is_read_and_judged() -> None:
    running = read_altered(with_agic("Running"))["aks-overlay-priv-weu"]
    (gateway,) = running.application_gateways
    assert (gateway.name, gateway.provisioning_state, gateway.operational_state) == (
        "agw-shop",
        "Succeeded",
        "Running",
    )
    assert rule_outcome(running, "AGW-001").outcome == "passed"
    stopped = read_altered(with_agic("Stopped"))["aks-overlay-priv-weu"]
    assert rule_outcome(stopped, "AGW-001").findings[0].evidence["operational_state"] == "Stopped"


def test_an_agic_gateway_arm_does_not_know_is_missing_not_a_gap() -> None:
    overlay = read_altered(with_agic(None))["aks-overlay-priv-weu"]
    assert list(overlay.gaps) == []
    (gateway,) = overlay.application_gateways
    assert (gateway.id, gateway.missing) == (GATEWAY_ID, True)
    outcome = rule_outcome(overlay, "AGW-001")
    assert outcome.outcome == "findings"
    assert outcome.findings[0].evidence["exists"] == "false"


def test_a_forbidden_agic_gateway_is_a_gap_and_agw001_is_not_assessed() -> None:
    faults = ArmFaults.forbidden(r"/applicationGateways/agw-shop$")
    overlay = read_altered(with_agic("Running"), faults)["aks-overlay-priv-weu"]
    assert [(g.resource_id.rsplit("/", 1)[1], g.reason) for g in overlay.gaps] == [
        ("agw-shop", "forbidden")
    ]
    assert rule_outcome(overlay, "AGW-001").outcome == "not_assessed"


def with_virtual_nodes(subnet_exists: bool) -> Callable[[Resources], None]:
    """Virtual nodes on aks-cni-neu naming snet-aci; vnet-neu gets that subnet (snet-cni's
    body renamed, 10.20.1.0/24) when ``subnet_exists``."""

    def alter(resources: Resources) -> None:
        cluster = body_named(resources, "aks-cni-neu")
        cluster["properties"]["addonProfiles"] = {
            "aciConnectorLinux": {"enabled": True, "config": {"SubnetName": "snet-aci"}}
        }
        if not subnet_exists:
            return
        vnet = body_named(resources, "vnet-neu")
        subnet = copy.deepcopy(vnet["properties"]["subnets"][0])
        subnet["name"] = "snet-aci"
        subnet["id"] = subnet["id"].rsplit("/", 1)[0] + "/snet-aci"
        subnet["properties"]["addressPrefix"] = "10.20.1.0/24"
        vnet["properties"]["subnets"].append(subnet)

    return alter


def test_virtual_node_subnet_comes_from_the_vnet_body_without_a_subnet_request() -> None:
    # a GET of the subnet itself would fail: the subnet must come from the VNet GET
    faults = ArmFaults.forbidden(r"/subnets/snet-aci$")
    cni = read_altered(with_virtual_nodes(True), faults, PLATFORM)["aks-cni-neu"]
    assert list(cni.gaps) == []
    assert [s.name for s in cni.subnets] == ["snet-cni", "snet-aci"]
    outcome = rule_outcome(cni, "VND-003")
    # vnet-neu's usages have no row for the new subnet, whose /24 offers 251: unknown
    assert outcome.outcome == "not_assessed"
    assert "no row for the virtual node subnet" in outcome.reason


def test_a_missing_virtual_node_subnet_is_found() -> None:
    cni = read_altered(with_virtual_nodes(False), subscription=PLATFORM)["aks-cni-neu"]
    assert [s.name for s in cni.subnets] == ["snet-cni"]
    outcome = rule_outcome(cni, "VND-003")
    assert outcome.outcome == "findings"
    assert outcome.findings[0].resource.endswith("/virtualnetworks/vnet-neu/subnets/snet-aci")


SHOP_ZONE = (
    f"/subscriptions/{SHOP}/resourceGroups/rg-dns/providers/Microsoft.Network/"
    "privateDnsZones/shop.contoso.internal"
)


def shared_body(relative: str) -> dict[str, Any]:
    document = json.loads((SHARED_FIXTURES / "arm" / relative).read_text())
    return dict(document["responses"]["200"]["body"])


def unlinked_external_dns_zone(resources: Resources) -> None:
    """A private zone (the published PrivateZoneGet) with no virtual network link, holding
    an A record set and an ExternalDNS TXT registry record (the published ones, renamed)."""
    zone = shared_body("privatedns/PrivateZoneGet.json")
    zone["id"], zone["name"] = SHOP_ZONE, "shop.contoso.internal"
    record = shared_body("privatedns/RecordSetAGet.json")
    record["id"], record["name"] = f"{SHOP_ZONE}/A/storefront", "storefront"
    txt = shared_body("privatedns/RecordSetTXTGet.json")
    txt["id"], txt["name"] = f"{SHOP_ZONE}/TXT/a-catalog", "a-catalog"
    txt["properties"]["txtRecords"] = [
        {
            "value": [
                "heritage=external-dns,external-dns/owner=shop,",
                "external-dns/resource=service/shop/catalog",
            ]
        }
    ]
    resources.extend([zone, record, txt])


def private_dns_instance_report(filters: str) -> report_pb2.Report:
    report = report_pb2.Report()
    instance = report.external_dns.instances.add(
        provider="azure-private-dns", txt_owner_id="shop", domain_filters=[filters]
    )
    instance.workload.namespace, instance.workload.name = "external-dns", "external-dns"
    instance.workload.args.extend(["--provider=azure-private-dns", f"--domain-filter={filters}"])
    return report


def test_an_unlinked_zone_external_dns_writes_is_read_with_every_record_set() -> None:
    fleet = read_altered(
        unlinked_external_dns_zone,
        latest_report=lambda _key: private_dns_instance_report("shop.contoso.internal"),
    )
    cluster = fleet["aks-overlay-priv-weu"]
    (selection,) = cluster.external_dns_zone_selections
    assert (selection.instance, selection.subscription_id) == ("external-dns/external-dns", SHOP)
    zone = next(z for z in cluster.private_dns_zones if z.id.lower() == SHOP_ZONE.lower())
    assert list(zone.external_dns_instances) == ["external-dns/external-dns"]
    assert list(zone.virtual_network_links) == []
    assert sorted((r.type, r.name) for r in zone.record_sets) == [
        ("A", "storefront"),
        ("TXT", "a-catalog"),
    ]
    txt = next(r for r in zone.record_sets if r.type == "TXT")
    assert list(txt.values) == [
        "heritage=external-dns,external-dns/owner=shop,external-dns/resource=service/shop/catalog"
    ]
    # the linked API server zone is still read, and not marked as ExternalDNS's
    api_zone = next(z for z in cluster.private_dns_zones if z.name.startswith("privatelink."))
    assert list(api_zone.external_dns_instances) == []


def test_zones_outside_the_domain_filter_are_not_read() -> None:
    fleet = read_altered(
        unlinked_external_dns_zone,
        latest_report=lambda _key: private_dns_instance_report("example.com"),
    )
    cluster = fleet["aks-overlay-priv-weu"]
    assert len(cluster.external_dns_zone_selections) == 1
    assert all(z.id.lower() != SHOP_ZONE.lower() for z in cluster.private_dns_zones)
