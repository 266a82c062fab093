"""ARM data: ids matched case-insensitively, embedded children served as resources."""

from __future__ import annotations

import pytest

from netaudit.sandbox.arm_data import ArmData, ResourceId
from netaudit.sandbox.errors import FixtureError
from netaudit.sandbox.sample_fleet import load_sample_fleet


@pytest.fixture(scope="module")
def arm() -> ArmData:
    return load_sample_fleet().arm


@pytest.mark.parametrize(
    ("resource_id", "type_", "parent"),
    [
        (
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
            "microsoft.network/virtualnetworks/subnets",
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v",
        ),
        (
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
            "microsoft.containerservice/managedclusters",
            "",
        ),
        (
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/z.io/A/rec",
            "microsoft.network/privatednszones/a",
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/privatednszones/z.io",
        ),
    ],
)
def test_resource_id_parsing(resource_id: str, type_: str, parent: str) -> None:
    parsed = ResourceId.parse(resource_id)
    assert (parsed.type, parsed.parent) == (type_, parent)


@pytest.mark.parametrize(
    "bad", ["/subscriptions/s", "/subscriptions/s/resourceGroups/rg/providers/Ns/type"]
)
def test_malformed_resource_id_is_a_fixture_error(bad: str) -> None:
    with pytest.raises(FixtureError):
        ResourceId.parse(bad)


def test_lookups_ignore_case(arm: ArmData) -> None:
    cluster = arm.get(
        "/SUBSCRIPTIONS/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/RG-PAYMENTS-NEU"
        "/providers/microsoft.containerservice/managedclusters/AKS-CNI-NEU"
    )
    assert cluster is not None and cluster["name"] == "aks-cni-neu"


def test_agent_pools_are_derived_from_the_cluster_body(arm: ArmData) -> None:
    cluster_id = (
        "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourcegroups/rg-payments-neu"
        "/providers/Microsoft.ContainerService/managedClusters/aks-cni-neu"
    )
    pools = arm.children(cluster_id, "agentPools")
    assert pools is not None
    assert [(p["name"], p["id"].endswith(f"/agentPools/{p['name']}")) for p in pools] == [
        ("nodepool1", True),
        ("npwin", True),
    ]
    assert "name" not in pools[0]["properties"]
    assert arm.get(f"{cluster_id}/agentPools/npwin") is pools[1]
    assert arm.children(cluster_id.replace("aks-cni-neu", "missing"), "agentPools") is None


def test_usages_belong_to_the_vnet_of_their_subnet(arm: ArmData) -> None:
    vnet = (
        "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-net-shop"
        "/providers/Microsoft.Network/virtualNetworks/vnet-shop"
    )
    rows = arm.usage_rows(vnet)
    assert rows is not None
    assert [(r["id"].rsplit("/", 1)[-1], r["currentValue"], r["limit"]) for r in rows] == [
        ("snet-overlay", 6.0, 251.0),
        ("snet-agc", 0.0, 251.0),
    ]


def test_all_record_sets_of_a_zone(arm: ArmData) -> None:
    zone = (
        "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-dns"
        "/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    )
    every = arm.children(zone, "ALL")
    a_records = arm.children(zone, "a")
    links = arm.children(zone, "virtualNetworkLinks")
    assert every is not None and a_records is not None and links is not None
    assert len(every) == 3 and len(a_records) == 2 and len(links) == 1


def test_all_record_sets_of_a_public_zone_include_ns_and_caa(arm: ArmData) -> None:
    zone = (
        "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/MyDnsResourceGroup"
        "/providers/Microsoft.Network/dnsZones/example.com"
    )
    every = arm.children(zone, "all")
    assert every is not None
    assert sorted(str(r["type"]).rsplit("/", 1)[1] for r in every) == [
        "A", "A", "CAA", "NS", "TXT", "TXT"
    ]  # fmt: skip
    zones = arm.list_top_level(
        "aaaaaaaa-0000-0000-0000-000000000001", "Microsoft.Network/dnszones", "mydnsresourcegroup"
    )
    assert sorted(z["name"] for z in zones) == ["contoso.com", "example.com"]


def test_top_level_lists_by_subscription_and_group(arm: ArmData) -> None:
    platform = "aaaaaaaa-0000-0000-0000-000000000001"
    clusters = arm.list_top_level(platform, "Microsoft.ContainerService/managedClusters")
    in_group = arm.list_top_level(
        platform, "microsoft.containerservice/managedclusters", "RG-PLATFORM-WEU"
    )
    assert sorted(c["name"] for c in clusters) == ["aks-cni-neu", "aks-kubenet-weu"]
    assert [c["name"] for c in in_group] == ["aks-kubenet-weu"]
    assert arm.resource_groups(platform)["rg-net-neu"][0] == "rg-net-neu"


PLATFORM = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001"
SNET_CNI = (
    f"{PLATFORM}/resourceGroups/rg-net-neu/providers/Microsoft.Network/virtualNetworks/vnet-neu"
    "/subnets/snet-cni"
)


@pytest.mark.parametrize(
    ("scope", "filter_", "granted_at"),
    [
        # at or above the subnet: the subscription's Reader and the resource group's
        (SNET_CNI, "atScope()", ["aaaaaaaa-0000-0000-0000-000000000001", "rg-net-neu"]),
        (SNET_CNI.upper(), "atscope()", ["aaaaaaaa-0000-0000-0000-000000000001", "rg-net-neu"]),
        # at the subscription: only its own; without a filter also those below it
        (PLATFORM, "atScope()", ["aaaaaaaa-0000-0000-0000-000000000001"]),
        (PLATFORM, "", ["aaaaaaaa-0000-0000-0000-000000000001", "rg-net-neu"]),
        # one principal at, above or below
        (PLATFORM, "principalId eq 'cccccccc-0000-0000-0000-00000000000c'", ["rg-net-neu"]),
        # a resource group whose name only starts like rg-net-neu is not below it
        (f"{PLATFORM}/resourceGroups/rg-net-neu2", "atScope()", [PLATFORM.rsplit("/", 1)[-1]]),
    ],
)
def test_role_assignments_for_a_scope(
    arm: ArmData, scope: str, filter_: str, granted_at: list[str]
) -> None:
    found = arm.role_assignments_for(scope, filter_)
    assert sorted(b["properties"]["scope"].rsplit("/", 1)[-1] for b in found) == granted_at


def test_a_provider_never_registered_answers_not_registered(arm: ArmData) -> None:
    provider = arm.provider("aaaaaaaa-0000-0000-0000-000000000001", "Microsoft.ContainerService")
    assert provider["registrationState"] == "NotRegistered"
    assert provider["id"] == f"{PLATFORM}/providers/Microsoft.ContainerService"
