"""ArmReader against the sandbox ARM server (HTTPS on loopback, throwaway CA, Entra ID tokens)
with the official azure-mgmt clients unchanged."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netaudit.collector.analysis.fleet import cluster_key
from netaudit.collector.config import AzureSettings
from netaudit.collector.inventory.arm import (
    ArmAuthenticationError,
    ArmReader,
    ArmUnreachableError,
    UnknownSubscriptionError,
    client_secret_credential,
    make_credential,
)
from netaudit.collector.rules import RULES, RuleSettings, evaluate_cluster
from netaudit.sandbox.arm import ArmFaults, ArmServer
from netaudit.sandbox.arm_data import ArmData
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.v1 import audit_pb2, inventory_pb2
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
    with start_sandbox(tmp_path, arm_faults=faults) as running:
        assert [i.name for i in reader(running, SHOP).read()] == ["aks-overlay-priv-weu"]


def test_wrong_secret_is_one_clear_line(sandbox: Sandbox) -> None:
    with pytest.raises(ArmAuthenticationError) as caught:
        reader(sandbox, SHOP, secret="wrong").read()
    message = str(caught.value)
    assert "\n" not in message
    assert "AADSTS7000215" in message
    assert "check azure.tenant_id, azure.client_id, the client secret" in message


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
