"""``--arm DIR``: ARM files in every shape a user can export, recognised by type, id or
item shape (never by file name), assembled like a live refresh."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netaudit.audit import arm_files
from netaudit.audit.arm_files import NOT_IN_FILES, classify, document_items, read_arm_files
from netaudit.audit.errors import InputError
from netaudit.collector.rules import RULES_BY_ID, Outcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.view import ClusterView
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT
from netaudit.v1 import audit_pb2, inventory_pb2
from tests.conftest import SHARED_FIXTURES
from tests.unit.test_inventory_convert import cli_shape

ARM = SHARED_FIXTURES / "arm"
SAMPLE_ARM = DEFAULT_FLEET_ROOT / "arm"
NETWORK = "microsoft.network"

# Shared fixture -> the type of each item it holds, as published (REST example wrappers,
# bodies, {"value": [...]} pages, Azure CLI output, a Resource Graph result).
RECOGNISED = {
    "managedclusters/ManagedClustersGet.json": [arm_files.CLUSTERS],
    "managedclusters/ManagedClustersList.json": [arm_files.CLUSTERS],
    "managedclusters/azcli-recording_ManagedClusterGet_cni-overlay.json": [arm_files.CLUSTERS],
    "managedclusters/AgentPoolsList.json": [arm_files.AGENT_POOLS],
    "managedclusters/azcli-recording_AgentPoolsList_linux-and-windows.json": [arm_files.AGENT_POOLS]
    * 2,
    "managedclusters/azcli_aks-nodepool-show_spot.json": [arm_files.AGENT_POOLS],
    "network/VirtualNetworkGet.json": [arm_files.VNETS],
    "network/VirtualNetworkList.json": [arm_files.VNETS] * 2,
    "network/SubnetGet.json": [arm_files.SUBNETS],
    "network/VirtualNetworkListUsage.json": [arm_files.USAGES] * 2,
    "network/NetworkSecurityGroupGet.json": [arm_files.NSGS],
    "network/PrivateEndpointGet.json": [arm_files.ENDPOINTS],
    "network/NetworkInterfaceGet.json": [arm_files.NICS],
    "network/ApplicationGatewayGet.json": [arm_files.GATEWAYS],
    "network/RouteTableGet.json": [f"{NETWORK}/routetables"],
    "authorization/RoleAssignments_ListForResource.json": [arm_files.ROLE_ASSIGNMENTS] * 3,
    "authorization/RoleAssignments_Get.json": [arm_files.ROLE_ASSIGNMENTS],
    "resources/GetProvider.json": [arm_files.PROVIDERS],
    "privatedns/PrivateZoneGet.json": [arm_files.ZONES],
    "privatedns/PrivateZoneListInSubscription.json": [arm_files.ZONES] * 2,
    "privatedns/VirtualNetworkLinkList.json": [arm_files.LINKS] * 2,
    "privatedns/RecordSetAGet.json": [f"{arm_files.ZONES}/a"],
    "privatedns/RecordSetALLList.json": [
        f"{arm_files.ZONES}/a",
        f"{arm_files.ZONES}/cname",
        f"{arm_files.ZONES}/mx",
    ],
    "resourcegraph/ResourcesFirstPageQuery.json": [
        "microsoft.compute/disks",
        "microsoft.automation/automationaccounts",
        "microsoft.automation/automationaccounts/runbooks",
    ],
}


def fixture(relative: str) -> Any:
    return json.loads((ARM / relative).read_text())


def body(relative: str) -> Any:
    document = fixture(relative)
    return document["responses"]["200"]["body"] if "responses" in document else document


@pytest.mark.parametrize("relative", sorted(RECOGNISED))
def test_every_shape_of_the_shared_fixtures_is_recognised(relative: str) -> None:
    items = document_items(fixture(relative))
    assert items is not None
    assert [classify(item) for item in items] == RECOGNISED[relative]


@pytest.mark.parametrize("relative", sorted(RECOGNISED))
def test_azure_cli_output_of_the_same_resources_is_recognised_alike(relative: str) -> None:
    """The CLI prints ``properties`` flattened and acronyms re-cased; ``type`` and ``id`` stay."""
    items = document_items(cli_shape(body(relative)))
    assert items is not None
    assert [classify(item) for item in items] == RECOGNISED[relative]


def test_a_type_is_read_from_the_id_when_the_item_has_none() -> None:
    (pool,) = body("managedclusters/AgentPoolsList.json")["value"]
    assert "type" not in pool
    assert classify(pool) == arm_files.AGENT_POOLS
    assert arm_files.type_of_id("/subscriptions/s/resourceGroups/g") == ""
    assert classify({"name": "x", "properties": {}}) is None


def test_resource_graph_tables_become_rows() -> None:
    table = {
        "data": {
            "columns": [{"name": "id", "type": "string"}, {"name": "type", "type": "string"}],
            "rows": [["/subscriptions/s/resourceGroups/g/providers/X.Y/z/n", "x.y/z"]],
        }
    }
    assert document_items(table) == [
        {"id": "/subscriptions/s/resourceGroups/g/providers/X.Y/z/n", "type": "x.y/z"}
    ]


# -- the sample fleet (its ARM files derive from the shared fixtures) in every shape --------

Shape = Callable[[list[dict[str, Any]]], list[Any]]
"""All resources of one file -> the documents a user's export would hold instead."""


def _resource_graph_row(item: dict[str, Any]) -> dict[str, Any]:
    """A Resource Graph row: lower-cased type, plus resourceGroup and subscriptionId."""
    if "currentValue" in item:
        return item  # Resource Graph has no usages; the export keeps the CLI rows
    parts = item["id"].split("/")
    return {
        **item,
        "type": item["type"].lower(),
        "subscriptionId": parts[2],
        "resourceGroup": parts[4],
    }


SHAPES: dict[str, Shape] = {
    "rest-bodies": lambda items: items,
    "rest-api-examples": lambda items: [
        {"parameters": {"api-version": "2025-03-01"}, "responses": {"200": {"body": i}}}
        for i in items
    ],
    "value-lists": lambda items: [{"value": items, "nextLink": None}],
    "arrays": lambda items: [items],
    "azure-cli": lambda items: [cli_shape(i) for i in items],
    "azure-cli-arrays": lambda items: [[cli_shape(i) for i in items]],
    "resource-graph": lambda items: [
        {
            "totalRecords": len(items),
            "count": len(items),
            "data": [_resource_graph_row(i) for i in items],
        }
    ],
}


def _sample_items(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    return list(document["value"]) if "value" in document else [document]


def export(shape: Shape, folder: Path) -> Path:
    """The sample fleet's ARM files rewritten in ``shape``, under arbitrary file names."""
    for index, path in enumerate(sorted(SAMPLE_ARM.rglob("*.json"))):
        for part, document in enumerate(shape(_sample_items(path))):
            target = folder / f"export-{index:02d}-{part}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(document))
    return folder


def comparable(inventories: list[inventory_pb2.ClusterInventory]) -> dict[str, Any]:
    found = {}
    for inventory in inventories:
        copied = copy.deepcopy(inventory)
        copied.ClearField("refreshed_at")
        found[copied.arm_resource_id.lower()] = copied
    return found


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    files = read_arm_files(SAMPLE_ARM)
    assert files.warnings == []
    return comparable(files.inventories)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_sample_fleet_reads_the_same_in_every_shape(
    shape: str, reference: dict[str, Any], tmp_path: Path
) -> None:
    files = read_arm_files(export(SHAPES[shape], tmp_path))
    assert files.warnings == []
    assert comparable(files.inventories) == reference


def test_the_sample_fleet_is_complete(reference: dict[str, Any]) -> None:
    assert {i.name for i in reference.values()} == {
        "aks-kubenet-weu",
        "aks-cni-neu",
        "aks-overlay-priv-weu",
    }
    for inventory in reference.values():
        assert list(inventory.gaps) == []
        assert len(inventory.subnets) == 1 and len(inventory.virtual_networks) == 1
        assert inventory.virtual_networks[0].subnet_usages
    overlay = next(i for i in reference.values() if i.name == "aks-overlay-priv-weu")
    (zone,) = overlay.private_dns_zones
    assert zone.name == "privatelink.westeurope.azmk8s.io"
    assert len(zone.virtual_network_links) == 1 and len(zone.a_records) == 2


# -- what a live refresh would read and the files do not hold ------------------------------


def sample_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_ARM, tmp_path / "arm"))


def by_name(folder: Path) -> dict[str, inventory_pb2.ClusterInventory]:
    return {i.name: i for i in read_arm_files(folder).inventories}


def test_a_missing_vnet_is_a_gap_and_its_rules_are_not_assessed(tmp_path: Path) -> None:
    folder = sample_copy(tmp_path)
    (folder / "resources/network/vnet-neu.json").unlink()
    inventory = by_name(folder)["aks-cni-neu"]
    # Its subnet came embedded in the VNet's file: both are missing now.
    assert {g.resource_id.lower().split("/virtualnetworks/")[1] for g in inventory.gaps} == {
        "vnet-neu",
        "vnet-neu/subnets/snet-cni",
    }
    assert all(g.reason == NOT_IN_FILES and str(folder) in g.message for g in inventory.gaps)
    facts = audit_pb2.ClusterFacts(cluster_key=inventory.arm_resource_id.lower())
    facts.inventory.CopyFrom(inventory)
    outcome = evaluate_rule(RULES_BY_ID["CNI-001"], ClusterView(facts), RuleSettings())
    assert outcome.outcome is Outcome.NOT_ASSESSED
    assert "snet-cni" in outcome.reason


def test_missing_usages_are_a_gap_on_the_virtual_network(tmp_path: Path) -> None:
    folder = sample_copy(tmp_path)
    (folder / "usages/vnet-weu.json").unlink()
    inventory = by_name(folder)["aks-kubenet-weu"]
    assert [(g.resource_id.rsplit("/", 1)[-1], g.reason) for g in inventory.gaps] == [
        ("usages", NOT_IN_FILES)
    ]
    assert len(inventory.virtual_networks) == 1  # what the files hold is kept


def test_zone_links_and_records_the_zone_counts_but_the_files_lack_are_gaps(
    tmp_path: Path,
) -> None:
    folder = sample_copy(tmp_path)
    zone_files = folder / "resources/privatedns"
    (zone_files / "privatelink.westeurope.azmk8s.io.virtualNetworkLinks.json").unlink()
    (zone_files / "privatelink.westeurope.azmk8s.io.recordsets.json").unlink()
    inventory = by_name(folder)["aks-overlay-priv-weu"]
    assert {g.resource_id.rsplit("/", 1)[-1] for g in inventory.gaps} == {"virtualNetworkLinks"}
    # Without its links the zone is not known to be linked to the cluster's VNet: not read.
    assert list(inventory.private_dns_zones) == []
    # The zones of another subscription are none of the other clusters' business.
    assert all(not i.gaps for n, i in by_name(folder).items() if n != "aks-overlay-priv-weu")


def test_a_zone_that_counts_no_links_needs_no_link_file(tmp_path: Path) -> None:
    """PrivateZoneGet.json (shared fixture) says numberOfVirtualNetworkLinks 0 and
    numberOfRecordSets 1 (the SOA): its absent link and record files are no gap."""
    catalogue = arm_files.Catalogue()
    zone = arm_files.Found(body("privatedns/PrivateZoneGet.json"), tmp_path / "zone.json")
    catalogue.add(arm_files.ZONES, zone)
    assembly = arm_files.ClusterAssembly(catalogue, tmp_path)
    assert assembly._links(zone) == []
    assert assembly._a_record_sets(zone) == []
    assert assembly.gaps == []


def test_a_custom_private_zone_no_file_holds_is_a_gap(tmp_path: Path) -> None:
    """ManagedClustersCreate_PrivateClusterFQDNSubdomain (shared fixture, as published)
    names a custom private DNS zone by id; no file holds it."""
    (tmp_path / "cluster.json").write_text(
        (ARM / "managedclusters/ManagedClustersCreate_PrivateClusterFQDNSubdomain.json").read_text()
    )
    (inventory,) = read_arm_files(tmp_path).inventories
    (gap,) = inventory.gaps
    assert gap.resource_id.lower().endswith("/privatednszones/privatelink.location1.azmk8s.io")
    assert gap.reason == NOT_IN_FILES


def test_pools_come_from_a_nodepool_list_when_the_cluster_body_has_none(tmp_path: Path) -> None:
    """The recorded GET and agent pool list of the same cluster (azure-cli's
    test_aks_create_with_windows); the GET's agentPoolProfiles removed, the list as the CLI
    prints it."""
    cluster = body("managedclusters/azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json")
    del cluster["properties"]["agentPoolProfiles"]
    (tmp_path / "aks-show.json").write_text(json.dumps(cluster))
    pools = body("managedclusters/azcli-recording_AgentPoolsList_linux-and-windows.json")
    (tmp_path / "nodepool-list.json").write_text(json.dumps(cli_shape(pools["value"])))
    (inventory,) = read_arm_files(tmp_path).inventories
    assert [(p.name, p.os_type) for p in inventory.agent_pools] == [
        ("nodepool1", "Linux"),
        ("npwin", "Windows"),
    ]
    assert not any(g.resource_id.endswith("/agentPools") for g in inventory.gaps)
    (tmp_path / "nodepool-list.json").unlink()
    (inventory,) = read_arm_files(tmp_path).inventories
    assert [g.resource_id.rsplit("/", 1)[-1] for g in inventory.gaps] == ["agentPools"]


# -- files that cannot be used --------------------------------------------------------------


def test_malformed_and_unrecognised_files_are_one_warning_each_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    folder = sample_copy(tmp_path)
    (folder / "broken.json").write_text('{"id": "/subscriptions/x", ')
    (folder / "notes.json").write_text(json.dumps({"owner": "platform team"}))
    (folder / "deep/er/mixed.json").parent.mkdir(parents=True)
    (folder / "deep/er/mixed.json").write_text(
        json.dumps([{"hello": 1}, body("network/SubnetGet.json")])
    )
    (folder / "readme.txt").write_text("not json, not read")
    files = read_arm_files(folder)
    assert len(files.inventories) == 3
    assert all(not i.gaps for i in files.inventories)
    warnings = sorted(files.warnings)
    assert len(warnings) == 3
    assert warnings[0].startswith(f"{folder / 'broken.json'}: not valid JSON")
    assert warnings[1].startswith(f"{folder / 'deep/er/mixed.json'}: 1 of 2 items")
    assert warnings[2].startswith(f"{folder / 'notes.json'}: holds no ARM resource")


def test_a_folder_that_does_not_exist_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        read_arm_files(tmp_path / "nowhere")


def test_resource_graph_results_of_other_types_are_read_without_warning(tmp_path: Path) -> None:
    shutil.copy(ARM / "resourcegraph/ResourcesFirstPageQuery.json", tmp_path / "graph.json")
    files = read_arm_files(tmp_path)
    assert files.inventories == [] and files.warnings == []


def test_role_assignments_in_files_apply_at_their_scope_and_below(tmp_path: Path) -> None:
    inventory = by_name(sample_copy(tmp_path))["aks-cni-neu"]
    (subnet, vnet) = inventory.role_assignment_scopes
    assert subnet.scope.endswith("/subnets/snet-cni") and vnet.scope.endswith("/vnet-neu")
    assert sorted(a.scope.rsplit("/", 1)[-1] for a in subnet.assignments) == [
        "aaaaaaaa-0000-0000-0000-000000000001",
        "rg-net-neu",
    ], "the subscription's and the resource group's, not the other subscription's"


def test_files_without_role_assignments_are_gaps_and_cni012_is_not_assessed(
    tmp_path: Path,
) -> None:
    folder = sample_copy(tmp_path)
    shutil.rmtree(folder / "roleassignments")
    inventory = by_name(folder)["aks-cni-neu"]
    assert [g.resource_id.split("/providers/")[-2].rsplit("/", 1)[-1] for g in inventory.gaps] == [
        "snet-cni",
        "vnet-neu",
    ]
    assert {g.reason for g in inventory.gaps} == {NOT_IN_FILES}
    facts = audit_pb2.ClusterFacts(cluster_key=inventory.arm_resource_id.lower())
    facts.inventory.CopyFrom(inventory)
    outcome = evaluate_rule(RULES_BY_ID["CNI-012"], ClusterView(facts), RuleSettings())
    assert outcome.outcome is Outcome.NOT_ASSESSED
    assert "az role assignment list" in outcome.reason


def test_provider_of_a_custom_zone_in_another_subscription_comes_from_its_file(
    tmp_path: Path,
) -> None:
    folder = sample_copy(tmp_path)
    path = folder / "resources/managedclusters/aks-overlay-priv-weu.json"
    cluster = json.loads(path.read_text())
    zone = (
        "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-dns/providers/"
        "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    )
    cluster["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone
    path.write_text(json.dumps(cluster))
    provider_id = (
        "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/providers/Microsoft.ContainerService"
    )
    missing = by_name(folder)["aks-overlay-priv-weu"]
    assert provider_id in [g.resource_id for g in missing.gaps]
    provider = body("resources/GetProvider.json")
    provider.update(id=provider_id, namespace="Microsoft.ContainerService")
    (folder / "provider.json").write_text(json.dumps(provider))
    overlay = by_name(folder)["aks-overlay-priv-weu"]
    assert [(r.namespace, r.registration_state) for r in overlay.resource_providers] == [
        ("Microsoft.ContainerService", "Registering")
    ]
