"""Role assignments, provider registrations and AGC associations read by ArmReader from the
sandbox ARM server (HTTPS on loopback, the official clients' pipelines unchanged), and the
rules that judge them: CNI-012, PDN-004, PDN-012, AGC-002."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from netaudit.collector.analysis.fleet import cluster_key
from netaudit.collector.inventory.arm import ArmReader, ArmRequestCounts, client_secret_credential
from netaudit.collector.rules import RULES_BY_ID, RuleOutcome, RuleSettings, evaluate_cluster
from netaudit.sandbox.arm import ArmFaults, ArmServer
from netaudit.sandbox.arm_data import ArmData
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.sandbox.sample_fleet import load_sample_fleet
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES
from tests.integration.test_inventory_arm import (
    SHOP_ZONE,
    private_dns_instance_report,
    unlinked_external_dns_zone,
)

PLATFORM = "aaaaaaaa-0000-0000-0000-000000000001"
SHOP = "bbbbbbbb-0000-0000-0000-000000000002"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VNET_SHOP = (
    f"/subscriptions/{SHOP}/resourceGroups/rg-net-shop/providers/Microsoft.Network/"
    "virtualNetworks/vnet-shop"
)
SNET_OVERLAY = f"{VNET_SHOP}/subnets/snet-overlay"
SNET_AGC = f"{VNET_SHOP}/subnets/snet-agc"
VNET_NEU = (
    f"/subscriptions/{PLATFORM}/resourceGroups/rg-net-neu/providers/Microsoft.Network/"
    "virtualNetworks/vnet-neu"
)
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"

Resources = list[dict[str, Any]]
LatestReport = Callable[[str], report_pb2.Report | None]


def reader(
    arm_url: str,
    ca_pem: str,
    data: ArmData,
    subscriptions: list[str],
    latest_report: LatestReport = lambda _key: None,
    counts: ArmRequestCounts | None = None,
) -> ArmReader:
    credential = client_secret_credential(
        data.tenant_id, data.client_id, data.client_secret, arm_url, ca_pem
    )
    return ArmReader(
        credential,
        subscriptions,
        base_url=arm_url,
        connection_verify=ca_pem,
        retry_total=0,
        clock=lambda: NOW,
        latest_report=latest_report,
        counts=counts,
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


def read_sandbox(
    running: Sandbox, latest_report: LatestReport = lambda _key: None
) -> dict[str, inventory_pb2.ClusterInventory]:
    sample = load_sample_fleet()
    subject = reader(
        running.arm_url, str(running.ca_pem), sample.arm, running.subscriptions, latest_report
    )
    return {inventory.name: inventory for inventory in subject.read()}


@pytest.fixture(scope="module")
def fleet(sandbox: Sandbox) -> dict[str, inventory_pb2.ClusterInventory]:
    return read_sandbox(sandbox)


def outcome(
    inventory: inventory_pb2.ClusterInventory,
    rule_id: str,
    report: report_pb2.Report | None = None,
) -> RuleOutcome:
    facts = audit_pb2.ClusterFacts(
        cluster_key=cluster_key(inventory.arm_resource_id), inventory=inventory
    )
    facts.evaluated_at.FromDatetime(NOW)
    if report is not None:
        facts.report.CopyFrom(report)
        facts.report_received_at.FromDatetime(NOW)
    return evaluate_cluster(facts, RuleSettings(), [RULES_BY_ID[rule_id]]).outcome(rule_id)


def granted(read: inventory_pb2.RoleAssignmentScope) -> list[tuple[str, str, str]]:
    return sorted(
        (a.scope.rsplit("/", 1)[-1], a.principal_id[:8], a.role_name) for a in read.assignments
    )


# -- role assignments on the sample fleet --------------------------------------------------


def test_assignments_at_subnets_and_vnets_include_inherited_ones(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    overlay = fleet["aks-overlay-priv-weu"]
    scopes = {s.scope: s for s in overlay.role_assignment_scopes}
    assert list(scopes) == [SNET_OVERLAY, VNET_SHOP]
    assert granted(scopes[SNET_OVERLAY]) == [
        (SHOP, "a0a0a0a0", "Reader"),
        ("vnet-shop", "00000000", "Network Contributor"),
    ]
    assert granted(scopes[VNET_SHOP]) == granted(scopes[SNET_OVERLAY])
    cni = fleet["aks-cni-neu"]
    assert [s.scope for s in cni.role_assignment_scopes] == [
        f"{VNET_NEU}/subnets/snet-cni",
        VNET_NEU,
    ]
    assert granted(cni.role_assignment_scopes[0]) == [
        (PLATFORM, "a0a0a0a0", "Reader"),
        ("rg-net-neu", "cccccccc", "Reader"),
    ]
    assert list(fleet["aks-kubenet-weu"].role_assignment_scopes) == [], (
        "a service principal cluster has no object id to match: nothing is read for it"
    )
    assert all(list(i.gaps) == [] for i in fleet.values())


def test_cni012_passes_finds_and_cannot_judge_a_service_principal(
    fleet: dict[str, inventory_pb2.ClusterInventory],
) -> None:
    assert outcome(fleet["aks-overlay-priv-weu"], "CNI-012").outcome == "passed"
    found = outcome(fleet["aks-cni-neu"], "CNI-012")
    assert found.outcome == "findings"
    (finding,) = found.findings
    assert finding.resource == f"{VNET_NEU}/subnets/snet-cni"
    assert finding.evidence["principal_ids"] == "cccccccc-0000-0000-0000-00000000000c"
    kubenet = outcome(fleet["aks-kubenet-weu"], "CNI-012")
    assert kubenet.outcome == "not_assessed"
    assert "service principal" in kubenet.reason


def test_forbidden_role_assignments_are_gaps_and_cni012_is_not_assessed(tmp_path: Path) -> None:
    faults = ArmFaults.forbidden(r"/providers/Microsoft.Authorization/roleAssignments$")
    with start_sandbox(tmp_path, arm_faults=faults) as running:
        fleet = read_sandbox(running)
    cni = fleet["aks-cni-neu"]
    assert [(g.resource_id.split("/providers/")[-2][-8:], g.reason) for g in cni.gaps] == [
        ("snet-cni", "forbidden"),
        ("vnet-neu", "forbidden"),
    ]
    assert list(cni.role_assignment_scopes) == []
    cni012 = outcome(cni, "CNI-012")
    assert cni012.outcome == "not_assessed"
    assert "roleAssignments (forbidden: 403 AuthorizationFailed" in cni012.reason
    assert outcome(cni, "CNI-001").outcome == "findings", "other reads are not affected"


# -- a custom zone in another subscription (PDN-004, PDN-012) -------------------------------


def body_named(resources: Resources, name: str) -> dict[str, Any]:
    return next(body for body in resources if body.get("name") == name)


def read_altered(
    alter: Callable[[Resources], None],
    *,
    role_assignments: Resources | None = None,
    providers: Resources | None = None,
    latest_report: LatestReport = lambda _key: None,
    faults: ArmFaults | None = None,
    counts: ArmRequestCounts | None = None,
) -> dict[str, inventory_pb2.ClusterInventory]:
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
        role_assignments=copy.deepcopy(
            sample.arm.role_assignments if role_assignments is None else role_assignments
        ),
        providers=list(providers or ()),
    )
    with ArmServer(data, faults=faults) as arm:
        subject = reader(arm.url, str(arm.ca_pem_path), data, [SHOP], latest_report, counts)
        return {inventory.name: inventory for inventory in subject.read()}


ZONE_IN_PLATFORM = (
    f"/subscriptions/{PLATFORM}/resourceGroups/rg-dns/providers/Microsoft.Network/"
    "privateDnsZones/privatelink.westeurope.azmk8s.io"
)
UAMI_PRINCIPAL = "dddddddd-0000-0000-0000-00000000000d"


def zone_in_platform_with_user_assigned_identity(resources: Resources) -> None:
    """The overlay cluster on a custom zone in the platform subscription (the sample zone
    moved there) with a user-assigned identity (hand-made)."""
    zone = body_named(resources, "privatelink.westeurope.azmk8s.io")
    zone["id"] = ZONE_IN_PLATFORM
    cluster = body_named(resources, "aks-overlay-priv-weu")
    cluster["properties"]["apiServerAccessProfile"]["privateDNSZone"] = ZONE_IN_PLATFORM
    identity_id = (
        f"/subscriptions/{SHOP}/resourceGroups/rg-shop-weu/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-overlay"
    )
    cluster["identity"] = {
        "type": "UserAssigned",
        "userAssignedIdentities": {
            identity_id: {"principalId": UAMI_PRINCIPAL, "clientId": "client-overlay"}
        },
    }


def container_service_provider(state: str) -> dict[str, Any]:
    """The published Providers_Get body as Microsoft.ContainerService in the platform
    subscription with ``state``."""
    text = (SHARED_FIXTURES / "arm/resources/GetProvider.json").read_text()
    provider: dict[str, Any] = json.loads(text)["responses"]["200"]["body"]
    provider.update(
        id=f"/subscriptions/{PLATFORM}/providers/Microsoft.ContainerService",
        namespace="Microsoft.ContainerService",
        registrationState=state,
    )
    return provider


def uami_grant(role: str, scope: str, name: str) -> dict[str, Any]:
    sample = load_sample_fleet()
    grant = copy.deepcopy(sample.arm.role_assignments[0])
    grant["id"] = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    grant["name"] = name
    grant["properties"].update(
        principalId=UAMI_PRINCIPAL,
        scope=scope,
        roleDefinitionId=f"/providers/Microsoft.Authorization/roleDefinitions/{role}",
    )
    return grant


def test_provider_of_the_zone_subscription_is_read_and_judged() -> None:
    unregistered = read_altered(zone_in_platform_with_user_assigned_identity)
    overlay = unregistered["aks-overlay-priv-weu"]
    assert [
        (r.subscription_id, r.namespace, r.registration_state) for r in overlay.resource_providers
    ] == [(PLATFORM, "Microsoft.ContainerService", "NotRegistered")]
    found = outcome(overlay, "PDN-012")
    assert found.outcome == "findings"
    assert found.findings[0].evidence["registration_state"] == "NotRegistered"

    registered = read_altered(
        zone_in_platform_with_user_assigned_identity,
        providers=[container_service_provider("Registered")],
    )
    assert outcome(registered["aks-overlay-priv-weu"], "PDN-012").outcome == "passed"


def test_a_forbidden_provider_read_leaves_pdn012_not_assessed() -> None:
    faults = ArmFaults.forbidden(
        rf"^/subscriptions/{PLATFORM}/providers/Microsoft.ContainerService$"
    )
    overlay = read_altered(zone_in_platform_with_user_assigned_identity, faults=faults)[
        "aks-overlay-priv-weu"
    ]
    assert [g.reason for g in overlay.gaps] == ["forbidden"]
    result = outcome(overlay, "PDN-012")
    assert result.outcome == "not_assessed"
    assert "Microsoft.ContainerService (forbidden" in result.reason


def test_pdn004_reads_the_zone_and_vnet_grants_of_the_user_assigned_identity() -> None:
    sample = load_sample_fleet()
    zone_only = [
        *sample.arm.role_assignments,
        uami_grant("b12aa53e-6015-4669-85d0-8515ebb3ae7f", ZONE_IN_PLATFORM, "zone-grant"),
    ]
    missing_vnet = read_altered(
        zone_in_platform_with_user_assigned_identity, role_assignments=zone_only
    )["aks-overlay-priv-weu"]
    assert [s.scope for s in missing_vnet.role_assignment_scopes] == [
        SNET_OVERLAY,
        VNET_SHOP,
        ZONE_IN_PLATFORM,
    ]
    found = outcome(missing_vnet, "PDN-004")
    assert found.outcome == "findings"
    assert [(f.resource, f.evidence["needed_role"]) for f in found.findings] == [
        (VNET_SHOP, "Network Contributor")
    ]
    both = read_altered(
        zone_in_platform_with_user_assigned_identity,
        role_assignments=[*zone_only, uami_grant(NETWORK_CONTRIBUTOR, VNET_SHOP, "vnet-grant")],
    )["aks-overlay-priv-weu"]
    assert outcome(both, "PDN-004").outcome == "passed"
    assert outcome(both, "CNI-012").outcome == "passed"


# -- AGC association subnets (AGC-002) -------------------------------------------------------


def agc_report(cluster_id: str, *, alb_subnet: str = "", alb_id: str = "") -> report_pb2.Report:
    """An agent report with an ApplicationLoadBalancer associated to ``alb_subnet`` and / or a
    Gateway naming the traffic controller ``alb_id`` (as the agent's gatherers fill them)."""
    report = report_pb2.Report(report_id="r-1")
    report.cluster.arm_resource_id = cluster_id
    report.gathered_at.FromDatetime(NOW)
    if alb_subnet:
        report.agc.application_load_balancers.add(
            namespace="alb-test-infra", name="alb-test", associations=[alb_subnet]
        )
    if alb_id:
        gateway = report.gateway_api.gateways.add(
            namespace="test-infra", name="gateway-01", gateway_class_name="azure-alb-external"
        )
        gateway.annotations["alb.networking.azure.io/alb-id"] = alb_id
    return report


def test_alb_association_subnet_comes_from_the_vnet_body(sandbox: Sandbox) -> None:
    sample = load_sample_fleet()
    reports: dict[str, report_pb2.Report] = {}
    for inventory in read_sandbox(sandbox).values():
        reports[cluster_key(inventory.arm_resource_id)] = agc_report(
            inventory.arm_resource_id, alb_subnet=SNET_AGC if "overlay" in inventory.name else ""
        )
    counts = ArmRequestCounts()
    subject = reader(
        sandbox.arm_url,
        str(sandbox.ca_pem),
        sample.arm,
        [SHOP],
        lambda key: reports.get(key),
        counts,
    )
    (overlay,) = subject.read()
    assert [(a.source, a.subnet_id) for a in overlay.agc_associations] == [
        ("ApplicationLoadBalancer alb-test-infra/alb-test", SNET_AGC)
    ]
    agc_subnet = next(s for s in overlay.subnets if s.id == SNET_AGC)
    assert list(agc_subnet.delegations) == ["Microsoft.ServiceNetworking/trafficControllers"]
    report = reports[cluster_key(overlay.arm_resource_id)]
    assert outcome(overlay, "AGC-002", report).outcome == "passed"


def traffic_controller_on(subnet_id: str) -> Callable[[Resources], None]:
    """The published traffic controller (TrafficControllerGet) and association
    (AssociationGet) moved into the shop subscription, associated with ``subnet_id``."""

    def alter(resources: Resources) -> None:
        controller_id = (
            f"/subscriptions/{SHOP}/resourceGroups/rg-shop-weu/providers/"
            "Microsoft.ServiceNetworking/trafficControllers/tc1"
        )
        base = SHARED_FIXTURES / "arm/servicenetworking"
        controller = json.loads((base / "TrafficControllerGet.json").read_text())
        controller = controller["responses"]["200"]["body"]
        controller["id"] = controller_id
        association = json.loads((base / "AssociationGet.json").read_text())
        association = association["responses"]["200"]["body"]
        association["id"] = f"{controller_id}/associations/as1"
        association["properties"]["subnet"]["id"] = subnet_id
        resources += [controller, association]

    return alter


BYO_CONTROLLER = (
    f"/subscriptions/{SHOP}/resourceGroups/rg-shop-weu/providers/"
    "Microsoft.ServiceNetworking/trafficControllers/tc1"
)


def test_byo_traffic_controller_associations_are_read_and_judged() -> None:
    cluster_id = load_sample_fleet().cluster("aks-overlay-priv-weu").arm_resource_id
    report = agc_report(cluster_id, alb_id=BYO_CONTROLLER)
    overlay = read_altered(traffic_controller_on(SNET_OVERLAY), latest_report=lambda _key: report)[
        "aks-overlay-priv-weu"
    ]
    assert [(a.source, a.id.rsplit("/", 1)[-1], a.subnet_id) for a in overlay.agc_associations] == [
        (BYO_CONTROLLER, "as1", SNET_OVERLAY)
    ]
    result = outcome(overlay, "AGC-002", report)
    assert result.outcome == "findings"
    assert result.findings[0].resource == SNET_OVERLAY

    delegated = read_altered(traffic_controller_on(SNET_AGC), latest_report=lambda _key: report)
    assert outcome(delegated["aks-overlay-priv-weu"], "AGC-002", report).outcome == "passed"


def test_forbidden_association_list_is_a_gap_and_agc002_is_not_assessed() -> None:
    cluster_id = load_sample_fleet().cluster("aks-overlay-priv-weu").arm_resource_id
    report = agc_report(cluster_id, alb_id=BYO_CONTROLLER)
    overlay = read_altered(
        traffic_controller_on(SNET_AGC),
        latest_report=lambda _key: report,
        faults=ArmFaults.forbidden(r"/trafficControllers/tc1/associations$"),
    )["aks-overlay-priv-weu"]
    assert [(g.resource_id.rsplit("/", 1)[-1], g.reason) for g in overlay.gaps] == [
        ("associations", "forbidden")
    ]
    result = outcome(overlay, "AGC-002", report)
    assert result.outcome == "not_assessed"
    assert "associations (forbidden" in result.reason


# -- the identity of an azure-private-dns ExternalDNS (EDN-006) ------------------------------


def test_external_dns_zone_grants_are_read_and_judged() -> None:
    """An azure-private-dns instance of the overlay cluster names the kubelet identity's
    client id; the zone it writes is read with its role assignments."""
    sample = load_sample_fleet()
    report = private_dns_instance_report("shop.contoso.internal")
    report.cluster.arm_resource_id = sample.cluster("aks-overlay-priv-weu").arm_resource_id
    report.gathered_at.FromDatetime(NOW)
    instance = report.external_dns.instances[0]
    instance.azure_client_id = "00000000-0000-0000-0000-000000000001"  # the kubelet identity
    zone_grant = uami_grant("b12aa53e-6015-4669-85d0-8515ebb3ae7f", SHOP_ZONE, "zone-grant")
    zone_grant["properties"]["principalId"] = "00000000-0000-0000-0000-000000000001"
    overlay = read_altered(
        unlinked_external_dns_zone,
        role_assignments=[*sample.arm.role_assignments, zone_grant],
        latest_report=lambda _key: report,
    )["aks-overlay-priv-weu"]
    zone_read = next(s for s in overlay.role_assignment_scopes if s.scope == SHOP_ZONE)
    assert sorted(a.role_name for a in zone_read.assignments) == [
        "Private DNS Zone Contributor",
        "Reader",
    ], "the zone's own grant and the subscription's Reader of the collector"
    result = outcome(overlay, "EDN-006", report)
    assert result.outcome == "findings", result.reason
    (finding,) = result.findings
    assert finding.evidence["missing"] == "Reader on its resource group"
