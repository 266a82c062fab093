"""The sandbox ARM server and identity provider against the real azure-identity and mgmt SDKs."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient

from netaudit.sandbox.arm import ArmFault, ArmFaults, ArmServer
from netaudit.sandbox.sample_fleet import SampleFleet, load_sample_fleet

SUB_PLATFORM = "aaaaaaaa-0000-0000-0000-000000000001"
SUB_SHOP = "bbbbbbbb-0000-0000-0000-000000000002"
ZONE = "privatelink.westeurope.azmk8s.io"


@pytest.fixture(scope="module")
def fleet() -> SampleFleet:
    return load_sample_fleet()


@pytest.fixture(scope="module")
def arm(fleet: SampleFleet) -> Iterator[ArmServer]:
    # A page size of 1 makes every list with more than one item follow nextLink.
    with ArmServer(fleet.arm, page_size=1) as server:
        yield server


def credential(
    fleet: SampleFleet, server: ArmServer, secret: str | None = None
) -> ClientSecretCredential:
    return ClientSecretCredential(
        fleet.tenant_id,
        fleet.client_id,
        secret if secret is not None else fleet.client_secret,
        authority=server.authority_url,
        disable_instance_discovery=True,
        connection_verify=str(server.ca_pem_path),
    )


@pytest.fixture(scope="module")
def cred(fleet: SampleFleet, arm: ArmServer) -> Iterator[ClientSecretCredential]:
    with credential(fleet, arm) as shared:
        yield shared


def sdk_options(server: ArmServer, retries: int = 0) -> dict[str, Any]:
    return {
        "base_url": server.url,
        "connection_verify": str(server.ca_pem_path),
        "retry_total": retries,
    }


def raw_get(server: ArmServer, path: str, token: str | None = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(server.ca_pem_path))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{server.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_managed_clusters_are_listed_per_subscription_through_the_identity_provider(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    names = {}
    for subscription in (SUB_PLATFORM, SUB_SHOP):
        with ContainerServiceClient(cred, subscription, **sdk_options(arm)) as client:
            names[subscription] = sorted(c.name for c in client.managed_clusters.list())
    assert names == {
        SUB_PLATFORM: ["aks-cni-neu", "aks-kubenet-weu"],
        SUB_SHOP: ["aks-overlay-priv-weu"],
    }


def test_managed_cluster_and_agent_pools_match_the_sample_fleet(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    with ContainerServiceClient(cred, SUB_PLATFORM, **sdk_options(arm)) as client:
        # ARM matches paths case-insensitively.
        cluster = client.managed_clusters.get("RG-Payments-NEU", "aks-cni-neu")
        pools = {p.name: p for p in client.agent_pools.list("rg-payments-neu", "aks-cni-neu")}
        by_rg = [c.name for c in client.managed_clusters.list_by_resource_group("rg-platform-weu")]
    assert cluster.network_profile.network_plugin == "azure"
    assert cluster.network_profile.network_plugin_mode is None
    assert cluster.kubernetes_version == "1.25.6"
    linux, windows = pools["nodepool1"], pools["npwin"]
    assert (
        linux.count,
        linux.enable_auto_scaling,
        linux.min_count,
        linux.max_count,
        linux.max_pods,
    ) == (
        7,
        True,
        3,
        10,
        30,
    )
    assert (windows.os_type, windows.count, windows.enable_auto_scaling, windows.max_pods) == (
        "Windows",
        1,
        False,
        30,
    )
    assert linux.vnet_subnet_id == windows.vnet_subnet_id
    assert linux.vnet_subnet_id.endswith("/virtualNetworks/vnet-neu/subnets/snet-cni")
    assert by_rg == ["aks-kubenet-weu"]


def test_private_overlay_cluster_has_the_unsupported_dns_combination(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    with ContainerServiceClient(cred, SUB_SHOP, **sdk_options(arm)) as client:
        cluster = client.managed_clusters.get("rg-shop-weu", "aks-overlay-priv-weu")
    access = cluster.api_server_access_profile
    assert (
        access.enable_private_cluster,
        access.private_dns_zone,
        access.enable_private_cluster_public_fqdn,
    ) == (
        True,
        "none",
        False,
    )
    assert cluster.network_profile.network_plugin_mode == "overlay"
    assert cluster.private_fqdn == "shop-weu-k8s-7c1e4a2b.hcp.westeurope.azmk8s.io"


def test_subnet_usage_of_the_cni_cluster_is_248_of_251(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    with NetworkManagementClient(cred, SUB_PLATFORM, **sdk_options(arm)) as client:
        usages = list(client.virtual_networks.list_usage("rg-net-neu", "vnet-neu"))
        subnet = client.subnets.get("rg-net-weu", "vnet-weu", "snet-kubenet")
    assert [(u.id.rsplit("/", 1)[-1], u.current_value, u.limit, u.name.value) for u in usages] == [
        ("snet-cni", 248.0, 251.0, "SubnetSpace")
    ]
    assert subnet.address_prefix == "10.10.0.0/24"
    assert subnet.route_table.id.endswith("/routeTables/rt-aks-kubenet-weu")


def test_vnet_subnets_and_peerings_are_served_as_children(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    with NetworkManagementClient(cred, SUB_SHOP, **sdk_options(arm)) as client:
        vnet = client.virtual_networks.get("rg-net-shop", "vnet-shop")
        subnets = [s.name for s in client.subnets.list("rg-net-shop", "vnet-shop")]
        peerings = list(client.virtual_network_peerings.list("rg-net-shop", "vnet-shop"))
    assert vnet.dhcp_options.dns_servers == ["10.100.0.4", "10.100.0.5"]
    assert subnets == ["snet-overlay", "snet-agc"]
    assert [p.remote_address_space.address_prefixes for p in peerings] == [["10.100.0.0/16"]]


def test_private_dns_zone_links_and_records_are_listed(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    with PrivateDnsManagementClient(cred, SUB_SHOP, **sdk_options(arm)) as client:
        zones = [z.name for z in client.private_zones.list()]
        links = list(client.virtual_network_links.list("rg-dns", ZONE))
        a_records = {r.name: r for r in client.record_sets.list_by_type("rg-dns", ZONE, "A")}
        every_record = [r.type for r in client.record_sets.list("rg-dns", ZONE)]
        one = client.record_sets.get("rg-dns", ZONE, "A", "shop-weu-k8s-7c1e4a2b")
    assert zones == [ZONE]
    assert [link.virtual_network.id.rsplit("/", 1)[-1] for link in links] == ["vnet-shop"]
    assert links[0].virtual_network_link_state == "Completed"
    assert set(a_records) == {"shop-weu-k8s-7c1e4a2b", "shop-weu-k8s-old-0f1e2d3c"}
    assert one.fqdn == f"shop-weu-k8s-7c1e4a2b.{ZONE}."
    assert len(every_record) == 3 and "Microsoft.Network/privateDnsZones/SOA" in every_record


def test_unknown_resource_is_resource_not_found(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    with (
        ContainerServiceClient(cred, SUB_PLATFORM, **sdk_options(arm)) as client,
        pytest.raises(ResourceNotFoundError) as raised,
    ):
        client.managed_clusters.get("rg-platform-weu", "no-such-cluster")
    assert raised.value.error.code == "ResourceNotFound"


def test_arm_requires_the_identity_providers_bearer_token(arm: ArmServer) -> None:
    path = (
        f"/subscriptions/{SUB_PLATFORM}/providers/Microsoft.ContainerService/managedClusters"
        "?api-version=2026-08-01"
    )
    missing, body = raw_get(arm, path)
    forged, _ = raw_get(arm, path, token="forged")
    assert (missing, forged) == (401, 401)
    assert body["error"]["code"] == "AuthenticationFailed"


def test_wrong_client_secret_is_refused_by_the_identity_provider(
    fleet: SampleFleet, arm: ArmServer
) -> None:
    with (
        credential(fleet, arm, secret="not-the-secret") as wrong,
        pytest.raises(ClientAuthenticationError) as raised,
    ):
        wrong.get_token("https://management.azure.com/.default")
    assert "AADSTS7000215" in str(raised.value)


def test_throttled_answer_is_retried_after_retry_after(fleet: SampleFleet) -> None:
    faults = ArmFaults.throttled(r"/managedClusters$", times=1, retry_after_seconds=1)
    with ArmServer(fleet.arm, faults=faults) as server, credential(fleet, server) as cred:
        started = time.monotonic()
        with ContainerServiceClient(cred, SUB_SHOP, **sdk_options(server, retries=2)) as client:
            names = [c.name for c in client.managed_clusters.list()]
        elapsed = time.monotonic() - started
    assert names == ["aks-overlay-priv-weu"]
    assert elapsed >= 1.0


def test_server_error_and_forbidden_faults_reach_the_sdk(fleet: SampleFleet) -> None:
    faults = ArmFaults.server_error(r"/virtualNetworks/vnet-neu/usages") + ArmFaults.forbidden(
        r"privateDnsZones"
    )
    with ArmServer(fleet.arm, faults=faults) as server, credential(fleet, server) as cred:
        with NetworkManagementClient(cred, SUB_PLATFORM, **sdk_options(server)) as network:
            with pytest.raises(HttpResponseError) as failed:
                list(network.virtual_networks.list_usage("rg-net-neu", "vnet-neu"))
            # The fault was for one answer only.
            assert len(list(network.virtual_networks.list_usage("rg-net-neu", "vnet-neu"))) == 1
        with (
            PrivateDnsManagementClient(cred, SUB_SHOP, **sdk_options(server)) as dns,
            pytest.raises(HttpResponseError) as refused,
        ):
            list(dns.private_zones.list())
    assert failed.value.status_code == 500
    assert refused.value.status_code == 403
    assert refused.value.error.code == "AuthorizationFailed"


def test_slow_fault_delays_the_answer(fleet: SampleFleet) -> None:
    faults = ArmFaults(
        ArmFault(r"/virtualNetworks/vnet-weu$", status=None, times=1, delay_seconds=0.5)
    )
    with ArmServer(fleet.arm, faults=faults) as server, credential(fleet, server) as cred:
        token = cred.get_token("https://management.azure.com/.default").token
        path = (
            f"/subscriptions/{SUB_PLATFORM}/resourceGroups/rg-net-weu"
            "/providers/Microsoft.Network/virtualNetworks/vnet-weu?api-version=1"
        )
        started = time.monotonic()
        slow, body = raw_get(server, path, token)
        slow_seconds = time.monotonic() - started
        started = time.monotonic()
        fast, _ = raw_get(server, path, token)
        fast_seconds = time.monotonic() - started
    assert (slow, fast) == (200, 200)
    assert body["name"] == "vnet-weu"
    assert slow_seconds >= 0.5 > fast_seconds


def test_role_assignments_page_with_their_filter_and_need_an_existing_scope(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    token = cred.get_token("https://management.azure.com/.default").token
    subnet = (
        f"/subscriptions/{SUB_PLATFORM}/resourceGroups/rg-net-neu/providers/Microsoft.Network/"
        "virtualNetworks/vnet-neu/subnets/snet-cni"
    )
    listing = "/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
    status, first = raw_get(arm, f"{subnet}{listing}&$filter=atScope()", token)
    assert status == 200 and len(first["value"]) == 1, "page size 1"
    assert "atScope" in urllib.parse.unquote(first["nextLink"]), "the filter stays on the link"
    status, second = raw_get(arm, first["nextLink"].removeprefix(arm.url), token)
    assert status == 200 and "nextLink" not in second
    scopes = [b["properties"]["scope"] for b in [*first["value"], *second["value"]]]
    assert [s.rsplit("/", 1)[-1] for s in scopes] == [SUB_PLATFORM, "rg-net-neu"]
    missing, body = raw_get(arm, f"{subnet}-gone{listing}", token)
    assert (missing, body["error"]["code"]) == (404, "ResourceNotFound")


def test_provider_registration_is_served_per_subscription(
    arm: ArmServer, cred: ClientSecretCredential
) -> None:
    token = cred.get_token("https://management.azure.com/.default").token
    path = f"/subscriptions/{SUB_SHOP}/providers/Microsoft.ContainerService?api-version=2025-04-01"
    status, body = raw_get(arm, path, token)
    assert status == 200
    assert (body["namespace"], body["registrationState"]) == (
        "Microsoft.ContainerService",
        "NotRegistered",
    )
