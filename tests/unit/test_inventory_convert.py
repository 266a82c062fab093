"""The ARM converter reads REST JSON, Azure CLI JSON and SDK models alike, over every fixture."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.containerservice import models as aks_models
from azure.mgmt.dns import models as public_dns_models
from azure.mgmt.network import models as network_models
from azure.mgmt.privatedns import models as dns_models

from netaudit.collector.inventory import convert
from netaudit.v1 import inventory_pb2
from tests.conftest import SHARED_FIXTURES

ARM = SHARED_FIXTURES / "arm"


def body(path: Path) -> Any:
    """A fixture's payload: a spec example's ``responses.200.body``, or the file itself."""
    data = json.loads(path.read_text())
    return data["responses"]["200"]["body"] if "responses" in data else data


def fixture(relative: str) -> Any:
    return body(ARM / relative)


# name, subscription, resource group, plugin, mode, dataplane, pod cidrs, pools,
# private cluster, private zone, public FQDN (None = unset), addon keys
CLUSTERS = {
    "AdvancedNetworkingTransitEncryption.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "azure", "overlay",
        "cilium", ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "ManagedClustersCreate_DualStackNetworking.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16", "fd11:1234::/64"], ["nodepool1"], False, "", None, [],
    ),
    "ManagedClustersCreate_IngressProfile_WebAppRouting.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "ManagedClustersCreate_LocalDNS.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "ManagedClustersCreate_ManagedNATGateway.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "ManagedClustersCreate_PrivateClusterFQDNSubdomain.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], True,
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/"
        "Microsoft.Network/privateDnsZones/privatelink.location1.azmk8s.io",
        None, [],
    ),
    "ManagedClustersCreate_PrivateClusterPublicFQDN.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], True, "system", True, [],
    ),
    "ManagedClustersCreate_Update.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], False, "", None,
        [],
    ),
    "ManagedClustersCreate_UserAssignedNATGateway.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "ManagedClustersGet.json": (
        "clustername1", "00000000-0000-0000-0000-000000000000", "rg1", "kubenet", "", "",
        ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json": (
        "cliakstest000001", "00000000-0000-0000-0000-000000000000", "clitest000001", "azure", "",
        "azure", [], ["nodepool1", "npwin"], False, "", None, [],
    ),
    "azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json": (
        "cliakstest000002", "00000000-0000-0000-0000-000000000000", "clitest000001", "kubenet",
        "", "", ["10.244.0.0/16"], ["nodepool1"], False, "", None,
        ["kubedashboard", "ingressapplicationgateway"],
    ),
    "azcli-recording_ManagedClusterGet_cni-overlay-after-migration.json": (
        "cliakstest000002", "00000000-0000-0000-0000-000000000000", "clitest000001", "azure",
        "overlay", "azure", ["100.64.0.0/10"], ["nodepool1"], False, "", None, [],
    ),
    "azcli-recording_ManagedClusterGet_cni-overlay-cilium.json": (
        "cliakstest000001", "00000000-0000-0000-0000-000000000000", "clitest000001", "azure",
        "overlay", "cilium", ["10.244.0.0/16"], ["nodepool1"], False, "", None, [],
    ),
    "azcli-recording_ManagedClusterGet_cni-overlay.json": (
        "cliakstest000001", "00000000-0000-0000-0000-000000000000", "clitest000001", "azure",
        "overlay", "azure", ["100.64.0.0/10"], ["nodepool1"], False, "", None, [],
    ),
    "azcli-recording_ManagedClusterGet_ingress-appgw-addon.json": (
        "cliakstest000002", "00000000-0000-0000-0000-000000000000", "clitest000001", "kubenet",
        "", "", ["10.244.0.0/16"], ["nodepool1"], False, "", None, ["ingressapplicationgateway"],
    ),
    "azcli-recording_ManagedClusterGet_private-cluster-public-fqdn-disabled.json": (
        "cliakstest000001", "00000000-0000-0000-0000-000000000000", "clitest000001", "kubenet",
        "", "", ["10.244.0.0/16"], ["nodepool1"], True, "system", False, [],
    ),
    "azcli-recording_ManagedClusterGet_private-dns-zone-none.json": (
        "cliakstest000001", "00000000-0000-0000-0000-000000000000", "clitest000001", "kubenet",
        "", "", ["10.244.0.0/16"], ["nodepool1"], True, "none", True, [],
    ),
}  # fmt: skip

LIST_CLUSTERS = {
    "ManagedClustersList.json": ["clustername1"],
    "ManagedClustersListByResourceGroup.json": ["clustername1"],
}

# name, VM type, count, maxPods, maxSurge, autoscale, min, max, os type, orchestrator version
POOLS = {
    "AgentPoolsGet.json": ("agentpool1", "", 3, 110, "33%", False, None, None, "Linux", "1.9.6"),
    "AgentPoolsCreate_Update.json": (
        "agentpool1", "", 3, 110, "", False, None, None, "Linux", "1.9.6",
    ),
    "AgentPoolsCreate_WindowsOSSKU.json": (
        "wnp2", "", 3, 110, "", False, None, None, "Windows", "1.23.3",
    ),
    "AgentPoolsCreate_WindowsDisableOutboundNAT.json": (
        "wnp2", "", 3, 110, "", False, None, None, "Windows", "1.23.8",
    ),
    "azcli_aks-nodepool-show_spot.json": (
        "xxxxxxxxxxxx", "VirtualMachineScaleSets", 3, 30, "", True, 1, 3, "Linux", "1.30.10",
    ),
}  # fmt: skip

LIST_POOLS = {
    "AgentPoolsList.json": ["agentpool1"],
    "azcli-recording_AgentPoolsList_linux-and-windows.json": ["nodepool1", "npwin"],
}

NOT_CONVERTED = {
    # privateLinkResources are not part of the inventory contract.
    "managedclusters/PrivateLinkResourcesList.json",
    # Evidence not gathered yet: VNet lists (Resource Graph-style fleet listing).
    "network/VirtualNetworkList.json",
    # Role names come from the built-in roles' fixed GUIDs; custom definitions are not read
    # (their rules come out not assessed).
    "authorization/GetRoleDefinitionByName.json",
    # AGC frontends carry no subnet: AGC-002 reads associations.
    "servicenetworking/FrontendGet.json",
    # Traffic controllers name their associations by id; each association is read itself.
    "servicenetworking/TrafficControllerGet.json",
    # Resource Graph answers list clusters (tests/unit/test_resource_graph_listing.py),
    # they are not converted into the inventory.
    "resourcegraph/ResourcesFirstPageQuery.json",
    "resourcegraph/ResourcesNextPageQuery.json",
}


def test_every_arm_fixture_has_a_conversion_case() -> None:
    covered = {
        *(f"managedclusters/{name}" for name in [*CLUSTERS, *LIST_CLUSTERS, *POOLS, *LIST_POOLS]),
        "network/SubnetGet.json",
        "network/VirtualNetworkGet.json",
        "network/VirtualNetworkGetWithSubnetDelegation.json",
        "network/VirtualNetworkListUsage.json",
        "network/NetworkSecurityGroupGet.json",
        "network/NetworkSecurityGroupList.json",
        "network/PrivateEndpointGet.json",
        "network/NetworkInterfaceGet.json",
        "network/ApplicationGatewayGet.json",
        "network/RouteTableGet.json",
        "privatedns/PrivateZoneGet.json",
        "privatedns/PrivateZoneListInSubscription.json",
        "privatedns/RecordSetAGet.json",
        "privatedns/VirtualNetworkLinkGet.json",
        "privatedns/VirtualNetworkLinkList.json",
        *(name for name, _ in RECORD_SETS),
        "dns/GetZone.json",
        "dns/ListZonesBySubscription.json",
        *(name for name, _ in PUBLIC_RECORD_SETS),
        "authorization/RoleAssignments_ListForResource.json",
        "authorization/RoleAssignments_ListForScope.json",
        "authorization/RoleAssignments_Get.json",
        "resources/GetProvider.json",
        "servicenetworking/AssociationGet.json",
        *NOT_CONVERTED,
    }
    present = {
        str(path.relative_to(ARM)) for path in ARM.glob("*/*.json") if path.parent.name != "dns"
    } | {str(path.relative_to(ARM)) for path in (ARM / "dns").glob("*.json")}
    assert present - covered == set()


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_cluster_fields_come_from_the_payload(name: str) -> None:
    (
        cluster_name, subscription, group, plugin, mode, dataplane, pod_cidrs, pools,
        private, zone, public_fqdn, addons,
    ) = CLUSTERS[name]  # fmt: skip
    inventory = convert.cluster_inventory(fixture(f"managedclusters/{name}"))
    assert inventory.name == cluster_name
    assert inventory.subscription_id == subscription
    assert inventory.resource_group == group
    assert inventory.network_profile.network_plugin == plugin
    assert inventory.network_profile.network_plugin_mode == mode
    assert inventory.network_profile.network_dataplane == dataplane
    assert list(inventory.network_profile.pod_cidrs) == pod_cidrs
    assert [p.name for p in inventory.agent_pools] == pools
    assert inventory.api_server_access.enable_private_cluster is private
    assert inventory.api_server_access.private_dns_zone == zone
    if public_fqdn is None:
        assert not inventory.api_server_access.HasField("enable_private_cluster_public_fqdn")
    else:
        assert inventory.api_server_access.enable_private_cluster_public_fqdn is public_fqdn
    assert sorted(inventory.addons) == sorted(addons)


@pytest.mark.parametrize("name", sorted(LIST_CLUSTERS))
def test_list_items_convert_like_single_clusters(name: str) -> None:
    items = fixture(f"managedclusters/{name}")["value"]
    assert [convert.cluster_inventory(item).name for item in items] == LIST_CLUSTERS[name]


@pytest.mark.parametrize("name", sorted(POOLS))
def test_agent_pool_fields_come_from_the_payload(name: str) -> None:
    (pool_name, vm_type, count, max_pods, surge, autoscale, low, high, os_type, version) = POOLS[
        name
    ]
    pool = convert.agent_pool(fixture(f"managedclusters/{name}"))
    assert (pool.name, pool.type, pool.count, pool.max_pods) == (
        pool_name,
        vm_type,
        count,
        max_pods,
    )
    assert pool.max_surge == surge
    assert pool.enable_auto_scaling is autoscale
    assert (pool.min_count if pool.HasField("min_count") else None) == low
    assert (pool.max_count if pool.HasField("max_count") else None) == high
    assert pool.os_type == os_type
    assert pool.orchestrator_version == version


@pytest.mark.parametrize("name", sorted(LIST_POOLS))
def test_agent_pool_list_items_keep_their_names(name: str) -> None:
    items = fixture(f"managedclusters/{name}")["value"]
    assert [convert.agent_pool(item).name for item in items] == LIST_POOLS[name]


def test_cli_nulls_read_as_unset() -> None:
    pool = convert.agent_pool(fixture("managedclusters/azcli_aks-nodepool-show_spot.json"))
    assert pool.vnet_subnet_id == ""
    assert pool.pod_subnet_id == ""
    assert pool.pod_ip_allocation_mode == ""
    assert pool.max_surge == ""
    assert list(pool.availability_zones) == []


def test_cli_vm_type_comes_from_type_properties_type_not_the_resource_type() -> None:
    pool = convert.agent_pool(fixture("managedclusters/azcli_aks-nodepool-show_spot.json"))
    assert pool.type == "VirtualMachineScaleSets"


def test_max_surge_is_kept_as_arm_holds_it() -> None:
    cluster = convert.cluster_inventory(fixture("managedclusters/ManagedClustersGet.json"))
    assert cluster.agent_pools[0].max_surge == "33%"
    empty = convert.cluster_inventory(
        fixture("managedclusters/azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json")
    )
    assert [p.max_surge for p in empty.agent_pools] == ["", ""]


def test_addon_keys_are_lower_cased_and_config_kept() -> None:
    inventory = convert.cluster_inventory(
        fixture("managedclusters/azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json")
    )
    agic = inventory.addons["ingressapplicationgateway"]
    assert agic.enabled
    assert agic.config["applicationGatewayName"] == "gateway"
    assert agic.config["subnetId"].endswith("/subnets/appgw-subnet")
    assert inventory.addons["kubedashboard"].enabled
    assert inventory.addons["kubedashboard"].config == {}


def test_cluster_details_from_a_recorded_get() -> None:
    inventory = convert.cluster_inventory(
        fixture("managedclusters/azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json")
    )
    assert inventory.kubernetes_version == "1.17.13"
    assert inventory.power_state == "Running"
    assert (inventory.sku_name, inventory.sku_tier) == ("Basic", "Free")
    assert inventory.node_resource_group == "MC_clitest000001_cliakstest000002_westus2"
    assert inventory.identity.type == "SystemAssigned"
    assert inventory.identity.service_principal_client_id == "msi"
    assert inventory.agent_pools[0].vnet_subnet_id.endswith(
        "/virtualNetworks/cliakstest000003/subnets/aks-subnet"
    )
    assert list(inventory.network_profile.service_cidrs) == ["10.0.0.0/16"]
    assert inventory.network_profile.dns_service_ip == "10.0.0.10"


def test_ingress_profile_and_local_dns_and_user_assigned_identity() -> None:
    routing = convert.cluster_inventory(
        fixture("managedclusters/ManagedClustersCreate_IngressProfile_WebAppRouting.json")
    )
    assert routing.ingress_profile.web_app_routing_enabled
    assert list(routing.ingress_profile.web_app_routing_dns_zone_ids) == [
        "/subscriptions/SUB_ID/resourceGroups/RG_NAME/providers/Microsoft.Network/dnszones/"
        "DNS_ZONE_NAME"
    ]
    local_dns = convert.cluster_inventory(
        fixture("managedclusters/ManagedClustersCreate_LocalDNS.json")
    )
    assert (local_dns.agent_pools[0].local_dns_mode, local_dns.agent_pools[0].local_dns_state) == (
        "Preferred",
        "Enabled",
    )
    dual = convert.cluster_inventory(
        fixture("managedclusters/ManagedClustersCreate_DualStackNetworking.json")
    )
    assert dual.identity.type == "UserAssigned"
    assert [i.rsplit("/", 1)[1] for i in dual.identity.user_assigned_identity_ids] == ["identity1"]
    assert list(dual.network_profile.ip_families) == ["IPv4", "IPv6"]
    assert list(dual.agent_pools[0].availability_zones) == ["1", "2", "3"]


def test_agent_pools_given_separately_replace_the_body_profiles() -> None:
    cluster = fixture(
        "managedclusters/azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
    )
    pools = fixture("managedclusters/azcli-recording_AgentPoolsList_linux-and-windows.json")[
        "value"
    ]
    bare = {**cluster, "properties": {**cluster["properties"], "agentPoolProfiles": None}}
    assert convert.cluster_inventory(bare).agent_pools == []
    inventory = convert.cluster_inventory(bare, agent_pools=pools)
    assert [(p.name, p.os_type, p.type) for p in inventory.agent_pools] == [
        ("nodepool1", "Linux", "VirtualMachineScaleSets"),
        ("npwin", "Windows", "VirtualMachineScaleSets"),
    ]


# Maps whose keys are data (add-on names, config keys, identity ids), not field names.
DATA_MAPS = {"addonProfiles", "config", "userAssignedIdentities", "tags", "nodeLabels"}


def cli_shape(payload: Any, recase: Any = None) -> Any:
    """What the Azure CLI prints for a REST body: ``properties`` flattened into the object,
    acronym suffixes re-cased (vnetSubnetID -> vnetSubnetId, privateDNSZone -> privateDnsZone);
    the keys of data maps are kept."""
    recase = recase or _cli_key
    if isinstance(payload, list):
        return [cli_shape(item, recase) for item in payload]
    if not isinstance(payload, dict):
        return payload
    flat = {k: v for k, v in payload.items() if k != "properties"}
    if isinstance(payload.get("properties"), dict):
        flat.update(payload["properties"])
    return {
        recase(k): _data_map(v, recase) if k in DATA_MAPS else cli_shape(v, recase)
        for k, v in flat.items()
    }


def _data_map(value: Any, recase: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: cli_shape(v, recase) for k, v in value.items()}


def _cli_key(key: str) -> str:
    return re.sub(r"([A-Z])([A-Z]+)(?=[A-Z][a-z]|$)", lambda m: m[1] + m[2].lower(), key)


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_cli_shape_converts_like_rest_json(name: str) -> None:
    payload = fixture(f"managedclusters/{name}")
    assert convert.cluster_inventory(cli_shape(payload)) == convert.cluster_inventory(payload)


def test_cli_key_recasing_really_changes_the_keys() -> None:
    assert _cli_key("vnetSubnetID") == "vnetSubnetId"
    assert _cli_key("privateDNSZone") == "privateDnsZone"
    assert _cli_key("enablePrivateClusterPublicFQDN") == "enablePrivateClusterPublicFqdn"
    assert snake_shape({"properties": {"vnetSubnetID": "x", "addonProfiles": {"aB": {}}}}) == {
        "vnet_subnet_id": "x",
        "addon_profiles": {"aB": {}},
    }


def snake_shape(payload: Any) -> Any:
    """What msrest models' ``as_dict()`` gave: flattened, snake_case attribute names."""
    return cli_shape(payload, lambda key: re.sub(r"(?<!^)([A-Z])", r"_\1", _cli_key(key)).lower())


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_snake_case_models_convert_like_rest_json(name: str) -> None:
    payload = fixture(f"managedclusters/{name}")
    assert convert.cluster_inventory(snake_shape(payload)) == convert.cluster_inventory(payload)


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_sdk_models_convert_like_rest_json(name: str) -> None:
    payload = fixture(f"managedclusters/{name}")
    model = aks_models.ManagedCluster(payload)
    assert convert.cluster_inventory(model) == convert.cluster_inventory(payload)


@pytest.mark.parametrize("name", sorted(LIST_POOLS))
def test_sdk_agent_pool_models_convert_like_rest_json(name: str) -> None:
    for item in fixture(f"managedclusters/{name}")["value"]:
        assert convert.agent_pool(aks_models.AgentPool(item)) == convert.agent_pool(item)


def test_subnet_from_a_subnet_get() -> None:
    subnet = convert.subnet(fixture("network/SubnetGet.json"))
    assert subnet.name == "subnet1"
    assert list(subnet.address_prefixes) == ["10.0.0.0/16"]
    assert subnet.virtual_network_id == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/subnet-test/"
        "providers/Microsoft.Network/virtualNetworks/vnetname"
    )


def test_subnets_embedded_in_a_vnet_keep_delegations_and_ip_configurations() -> None:
    payload = fixture("network/VirtualNetworkGetWithSubnetDelegation.json")
    (subnet,) = convert.subnets_of_virtual_network(payload)
    assert list(subnet.delegations) == ["Microsoft.Provider/resourceType"]
    assert subnet.ip_configuration_count == 1
    assert list(subnet.address_prefixes) == ["10.0.1.0/24"]
    sdk = convert.subnets_of_virtual_network(network_models.VirtualNetwork(payload))
    assert sdk == [subnet]


def test_subnet_reads_nsg_and_route_table_ids_from_embedded_resources() -> None:
    nsg = fixture("network/NetworkSecurityGroupGet.json")
    route_table = fixture("network/RouteTableGet.json")
    payload = fixture("network/SubnetGet.json")
    embedded = {
        **payload,
        "properties": {
            **payload["properties"],
            "networkSecurityGroup": nsg,
            "routeTable": route_table,
        },
    }
    subnet = convert.subnet(embedded)
    assert subnet.network_security_group_id == nsg["id"]
    assert subnet.route_table_id == route_table["id"]


def test_virtual_network_with_usages() -> None:
    usages = fixture("network/VirtualNetworkListUsage.json")["value"]
    vnet = convert.virtual_network(fixture("network/VirtualNetworkGet.json"), usages)
    assert (vnet.name, vnet.location) == ("test-vnet", "westus")
    assert list(vnet.address_prefixes) == ["10.0.0.0/16"]
    assert list(vnet.peerings) == []
    assert [
        (u.subnet_id.rsplit("/", 1)[1], u.current_value, u.limit) for u in vnet.subnet_usages
    ] == [
        ("GatewaySubnet", -1.0, -1.0),
        ("newSubnet", 2.0, 3.0),
    ]
    sdk_usages = [network_models.VirtualNetworkUsage(u) for u in usages]
    assert list(convert.virtual_network({}, sdk_usages).subnet_usages) == list(vnet.subnet_usages)


def test_virtual_network_lists_the_subnets_it_embeds() -> None:
    payload = fixture("network/VirtualNetworkGet.json")
    vnet = convert.virtual_network(payload)
    assert [s.rsplit("/", 1)[1] for s in vnet.subnet_ids] == ["subnet1"]
    assert convert.virtual_network(network_models.VirtualNetwork(payload)) == vnet
    assert convert.virtual_network(cli_shape(payload)) == vnet


# -- network security groups, private endpoints, network interfaces, application gateways


def test_network_security_group_with_custom_and_default_rules() -> None:
    payload = fixture("network/NetworkSecurityGroupGet.json")
    nsg = convert.network_security_group(payload)
    assert (nsg.name, nsg.location, nsg.provisioning_state) == ("testnsg", "westus", "Succeeded")
    (rule,) = nsg.security_rules
    assert (rule.name, rule.priority, rule.direction, rule.access, rule.protocol) == (
        "rule1",
        130,
        "Inbound",
        "Allow",
        "*",
    )
    assert list(rule.source_address_prefixes) == ["*"]
    assert list(rule.destination_address_prefixes) == ["*"]
    assert list(rule.source_port_ranges) == ["*"]
    assert list(rule.destination_port_ranges) == ["80"]
    assert [(r.name, r.priority, r.access) for r in nsg.default_security_rules] == [
        ("AllowVnetInBound", 65000, "Allow"),
        ("AllowAzureLoadBalancerInBound", 65001, "Allow"),
        ("DenyAllInBound", 65500, "Deny"),
        ("AllowVnetOutBound", 65000, "Allow"),
        ("AllowInternetOutBound", 65001, "Allow"),
        ("DenyAllOutBound", 65500, "Deny"),
    ]
    vnet_rule = nsg.default_security_rules[0]
    assert list(vnet_rule.source_address_prefixes) == ["VirtualNetwork"]
    assert list(vnet_rule.destination_address_prefixes) == ["VirtualNetwork"]
    assert convert.network_security_group(network_models.NetworkSecurityGroup(payload)) == nsg
    assert convert.network_security_group(cli_shape(payload)) == nsg
    assert convert.network_security_group(snake_shape(payload)) == nsg


def test_network_security_group_list_items() -> None:
    items = fixture("network/NetworkSecurityGroupList.json")["value"]
    nsgs = [convert.network_security_group(item) for item in items]
    assert [n.name for n in nsgs] == ["nsg1", "nsg3"]
    assert [(len(n.security_rules), len(n.default_security_rules)) for n in nsgs] == [
        (0, 6),
        (0, 6),
    ]


def test_security_rule_reads_singular_and_plural_prefixes_and_ports() -> None:
    # rule1 of the published NSG with its singular fields replaced by plural ones (both
    # shapes are in the REST spec's SecurityRulePropertiesFormat) and an ASG added.
    rule = fixture("network/NetworkSecurityGroupGet.json")["properties"]["securityRules"][0]
    properties = rule["properties"]
    for singular in ("sourceAddressPrefix", "destinationPortRange"):
        del properties[singular]
    properties["sourceAddressPrefixes"] = ["10.0.0.0/24", "10.244.0.0/16"]
    properties["destinationPortRanges"] = ["80", "8000-8080"]
    properties["destinationApplicationSecurityGroups"] = [{"id": f"{HAND_MADE_NET}/asg/web"}]
    converted = convert.security_rule(rule)
    assert list(converted.source_address_prefixes) == ["10.0.0.0/24", "10.244.0.0/16"]
    assert list(converted.destination_address_prefixes) == ["*"]
    assert list(converted.destination_port_ranges) == ["80", "8000-8080"]
    assert list(converted.destination_application_security_group_ids) == [
        f"{HAND_MADE_NET}/asg/web"
    ]
    assert convert.security_rule(snake_shape(rule)) == converted


def test_private_endpoint_connections_and_the_addresses_its_body_carries() -> None:
    payload = fixture("network/PrivateEndpointGet.json")
    endpoint = convert.private_endpoint(payload)
    assert (endpoint.name, endpoint.provisioning_state) == ("testPe", "Succeeded")
    assert endpoint.subnet_id.endswith("/virtualNetworks/myVnet/subnets/mySubnet")
    ((connection),) = endpoint.connections
    assert connection.private_link_service_id.endswith("/privateLinkServices/testPls")
    assert (connection.name, list(connection.group_ids), connection.status) == (
        "",
        ["groupIdFromResource"],
        "Approved",
    )
    # the NIC id is published with the typo 'provders'
    assert [n.rsplit("/", 1)[1] for n in endpoint.network_interface_ids] == ["testPe.nic.abcd1234"]
    assert (list(endpoint.private_ip_addresses), endpoint.address_source) == (
        ["192.168.0.6", "192.168.0.7"],
        "ipConfigurations",
    )
    assert convert.endpoint_carries_addresses(payload)
    assert convert.private_endpoint(network_models.PrivateEndpoint(payload)) == endpoint
    assert convert.private_endpoint(cli_shape(payload)) == endpoint


def test_private_endpoint_addresses_fall_back_to_custom_dns_configs() -> None:
    payload = fixture("network/PrivateEndpointGet.json")
    payload["properties"]["ipConfigurations"] = []
    endpoint = convert.private_endpoint(payload)
    assert (list(endpoint.private_ip_addresses), endpoint.address_source) == (
        ["192.168.0.4", "192.168.0.5"],
        "customDnsConfigs",
    )
    payload["properties"]["customDnsConfigs"] = []
    assert not convert.endpoint_carries_addresses(payload)
    assert list(convert.private_endpoint(payload).private_ip_addresses) == []


def test_private_endpoint_addresses_from_its_network_interface() -> None:
    payload = fixture("network/PrivateEndpointGet.json")
    nic = fixture("network/NetworkInterfaceGet.json")
    endpoint = convert.private_endpoint(payload, [nic])
    # ipconfig2 is a /28 prefix (privateIPAddressPrefixLength 28), not an address
    assert (list(endpoint.private_ip_addresses), endpoint.address_source) == (
        ["172.20.2.4"],
        "networkInterface",
    )
    from_sdk = convert.private_endpoint(
        network_models.PrivateEndpoint(payload), [network_models.NetworkInterface(nic)]
    )
    assert from_sdk == endpoint


def test_application_gateway_state_sku_and_subnet() -> None:
    payload = fixture("network/ApplicationGatewayGet.json")
    gateway = convert.application_gateway(payload)
    assert (gateway.name, gateway.missing) == ("appgw", False)
    assert (gateway.provisioning_state, gateway.operational_state) == ("Succeeded", "Running")
    assert (gateway.sku_name, gateway.sku_tier) == ("Standard_Medium", "Standard")
    assert [s.rsplit("/", 1)[1] for s in gateway.subnet_ids] == ["appgwsubnet"]
    assert convert.application_gateway(network_models.ApplicationGateway(payload)) == gateway
    assert convert.application_gateway(cli_shape(payload)) == gateway


def test_missing_application_gateway_keeps_the_id() -> None:
    gateway_id = fixture("network/ApplicationGatewayGet.json")["id"]
    gateway = convert.missing_application_gateway(gateway_id)
    assert (gateway.id, gateway.name, gateway.missing) == (gateway_id, "appgw", True)


HAND_MADE_NET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network"


def test_peerings_and_dns_servers() -> None:
    # Hand-made: no published VNet example with a peering; shape per the REST spec
    # (VirtualNetworkPeeringPropertiesFormat).
    payload = {
        "id": f"{HAND_MADE_NET}/virtualNetworks/spoke",
        "name": "spoke",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "dhcpOptions": {"dnsServers": ["10.0.0.4"]},
            "virtualNetworkPeerings": [
                {
                    "name": "to-hub",
                    "properties": {
                        "remoteVirtualNetwork": {"id": f"{HAND_MADE_NET}/virtualNetworks/hub"},
                        "remoteAddressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                        "peeringState": "Connected",
                    },
                }
            ],
        },
    }
    vnet = convert.virtual_network(payload)
    assert list(vnet.dns_servers) == ["10.0.0.4"]
    (peering,) = vnet.peerings
    assert peering.name == "to-hub"
    assert peering.remote_virtual_network_id.endswith("/virtualNetworks/hub")
    assert list(peering.remote_address_prefixes) == ["10.0.0.0/16"]
    assert peering.peering_state == "Connected"
    assert convert.virtual_network(cli_shape(payload)) == vnet


def test_private_zone_with_links_and_a_records() -> None:
    links = fixture("privatedns/VirtualNetworkLinkList.json")["value"]
    record = fixture("privatedns/RecordSetAGet.json")
    zone = convert.private_dns_zone(fixture("privatedns/PrivateZoneGet.json"), links, [record])
    assert zone.name == "privatezone1.com"
    assert [
        (link.name, link.registration_enabled, link.link_state)
        for link in zone.virtual_network_links
    ] == [
        ("virtualNetworkLink1", False, "Completed"),
        ("virtualNetworkLink2", True, "InProgress"),
    ]
    assert zone.virtual_network_links[0].virtual_network_id.endswith(
        "/virtualNetworks/virtualNetworkName"
    )
    assert zone.virtual_network_links[0].provisioning_state == "Succeeded"
    (a_record,) = zone.a_records
    assert (a_record.name, a_record.fqdn, a_record.ttl) == (
        "recorda",
        "recorda.privatezone1.com.",
        3600,
    )
    assert list(a_record.ipv4_addresses) == ["1.2.3.4"]


def test_private_zone_from_sdk_models_matches_rest_json() -> None:
    zone_payload = fixture("privatedns/PrivateZoneGet.json")
    link = fixture("privatedns/VirtualNetworkLinkGet.json")
    record = fixture("privatedns/RecordSetAGet.json")
    from_json = convert.private_dns_zone(zone_payload, [link], [record])
    from_sdk = convert.private_dns_zone(
        dns_models.PrivateZone(zone_payload),
        [dns_models.VirtualNetworkLink(link)],
        [dns_models.RecordSet(record)],
    )
    assert from_sdk == from_json


def test_zone_list_items_and_non_a_records_are_dropped() -> None:
    zones = fixture("privatedns/PrivateZoneListInSubscription.json")["value"]
    assert [convert.private_dns_zone(z).name for z in zones] == [
        "privatezone1.com",
        "privatezone2.com",
    ]
    cname = {
        **fixture("privatedns/RecordSetAGet.json"),
        "type": "Microsoft.Network/privateDnsZones/CNAME",
    }
    assert list(convert.private_dns_zone({}, (), [cname]).a_records) == []


RECORD_SETS = [
    # fixture (a body, or a list's items), expected (name, type, values) of each set kept
    ("privatedns/RecordSetAGet.json", [("recorda", "A", ["1.2.3.4"])]),
    ("privatedns/RecordSetCNAMEGet.json", [("recordcname", "CNAME", ["contoso.com"])]),
    ("privatedns/RecordSetTXTGet.json", [("recordtxt", "TXT", ["string1string2"])]),
    (
        "privatedns/RecordSetALLList.json",
        [("recorda", "A", ["1.2.3.4"]), ("recordcname", "CNAME", ["contoso.com"])],
    ),
]


@pytest.mark.parametrize(("name", "expected"), RECORD_SETS, ids=[n for n, _ in RECORD_SETS])
def test_record_sets_of_every_type_read(
    name: str, expected: list[tuple[str, str, list[str]]]
) -> None:
    payload = fixture(name)
    items = payload.get("value", [payload])
    zone = convert.private_dns_zone(fixture("privatedns/PrivateZoneGet.json"), (), items)
    assert [(r.name, r.type, list(r.values)) for r in zone.record_sets] == expected
    assert [
        (r.name, r.type, list(r.values))
        for r in convert.private_dns_zone({}, (), [cli_shape(i) for i in items]).record_sets
    ] == expected
    from_sdk = convert.private_dns_zone({}, (), [dns_models.RecordSet(i) for i in items])
    assert list(from_sdk.record_sets) == list(zone.record_sets)


def test_txt_record_set_keeps_fqdn_and_ttl() -> None:
    (txt,) = convert.private_dns_zone(
        {}, (), [fixture("privatedns/RecordSetTXTGet.json")]
    ).record_sets
    assert (txt.fqdn, txt.ttl) == ("recordtxt.privatezone1.com.", 3600)


def test_non_mapping_payload_is_refused() -> None:
    with pytest.raises(TypeError, match="expected an ARM object"):
        convert.cluster_inventory(["not", "a", "cluster"])


def test_resource_id_parts_ignore_segment_case() -> None:
    resource_id = (
        "/subscriptions/S1/resourcegroups/RG/providers/Microsoft.ContainerService/managedClusters/c"
    )
    assert convert.resource_id_part(resource_id, "resourceGroups") == "RG"
    assert convert.resource_id_part(resource_id, "subscriptions") == "S1"
    assert convert.parent_id(resource_id + "/agentPools/p", "agentPools") == resource_id


def test_converted_messages_are_the_contract_types() -> None:
    payload = fixture("managedclusters/ManagedClustersGet.json")
    assert isinstance(convert.cluster_inventory(payload), inventory_pb2.ClusterInventory)


# -- public DNS zones (Microsoft.Network/dnsZones, 2018-05-01): ``TTL``, ``ARecords``,
# ``CNAMERecord`` and ``TXTRecords`` in REST; azure-mgmt-dns 9 models are msrest ones whose
# ``as_dict()`` is snake_case (``ttl``, ``a_records``).

PUBLIC_RECORD_SETS = [
    # fixture (a body, or a list's items), expected (name, type, ttl, values) of each set kept
    ("dns/GetARecordset.json", [("record1", "A", 3600, ["127.0.0.1"])]),
    ("dns/GetCNAMERecordset.json", [("record1", "CNAME", 3600, ["contoso.com"])]),
    ("dns/GetTXTRecordset.json", [("record1", "TXT", 3600, ["string1string2"])]),
    # the CAA record set of the list is dropped
    (
        "dns/ListRecordSetsByZone.json",
        [("record1", "A", 3600, ["127.0.0.1"]), ("record2", "CNAME", 3600, ["contoso.com"])],
    ),
]


@pytest.mark.parametrize(
    ("name", "expected"), PUBLIC_RECORD_SETS, ids=[n for n, _ in PUBLIC_RECORD_SETS]
)
def test_public_zone_record_sets_of_every_type_read(
    name: str, expected: list[tuple[str, str, int, list[str]]]
) -> None:
    payload = fixture(name)
    items = payload.get("value", [payload])
    zone = convert.public_dns_zone(fixture("dns/GetZone.json"), items)
    assert [(r.name, r.type, r.ttl, list(r.values)) for r in zone.record_sets] == expected
    assert all(r.fqdn.startswith(r.name + ".") for r in zone.record_sets)
    from_cli = convert.public_dns_zone({}, [cli_shape(i) for i in items])
    assert list(from_cli.record_sets) == list(zone.record_sets)
    from_sdk = convert.public_dns_zone(
        {}, [public_dns_models.RecordSet.deserialize(i) for i in items]
    )
    assert list(from_sdk.record_sets) == list(zone.record_sets)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dns/GetZone.json", [("zone1", "rg1", "ns1-01.azure-dns.com")]),
        (
            "dns/ListZonesBySubscription.json",
            [("zone1", "rg1", "ns1-01.azure-dns.com"), ("zone2", "rg2", "ns1-02.azure-dns.com")],
        ),
    ],
)
def test_public_zone_name_id_and_name_servers(
    name: str, expected: list[tuple[str, str, str]]
) -> None:
    payload = fixture(name)
    items = payload.get("value", [payload])
    for shape in (
        lambda item: item,
        cli_shape,
        lambda item: public_dns_models.Zone.deserialize(item),
    ):
        zones = [convert.public_dns_zone(shape(item)) for item in items]
        assert [
            (z.name, convert.resource_id_part(z.id, "resourceGroups"), z.name_servers[0])
            for z in zones
        ] == expected
        assert all(len(z.name_servers) == 4 and not z.record_sets for z in zones)


# -- identities, role assignments, providers, AGC associations ------------------------------


def test_identities_carry_their_object_ids() -> None:
    """The recorded BYO-subnet cluster: system-assigned control plane, kubelet and add-on
    identities (identityProfile, addonProfiles[*].identity)."""
    payload = fixture(
        "managedclusters/azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json"
    )
    principals = {p.role: p for p in convert.cluster_inventory(payload).identity.principals}
    assert principals["cluster"].principal_id == "da15aa11-9fee-4de9-8f05-8a5a51f3e96e"
    assert principals["cluster"].resource_id == ""
    assert principals["kubelet"].principal_id == "f90e95c7-393d-4160-87ce-3db551520e97"
    assert principals["kubelet"].client_id == "cb198fa8-3299-4a78-b1b5-c47a3127140a"
    assert principals["kubelet"].resource_id.endswith("/cliakstest000002-agentpool")
    assert principals["addon:kubedashboard"].principal_id == "c66ad281-b872-414d-bef2-714b9d651ba3"
    assert "addon:ingressapplicationgateway" in principals
    assert (
        convert.cluster_inventory(cli_shape(payload)).identity
        == convert.cluster_inventory(payload).identity
    )


def test_user_assigned_identity_principal() -> None:
    payload = fixture("managedclusters/ManagedClustersCreate_Update.json")
    (principal,) = convert.cluster_inventory(payload).identity.principals
    assert (principal.role, principal.principal_id, principal.client_id) == (
        "cluster",
        "principalId1",
        "clientId1",
    )
    assert principal.resource_id.endswith("/userAssignedIdentities/identity1")


def test_role_assignments_at_a_scope_keep_inherited_scopes_and_name_built_in_roles() -> None:
    items = fixture("authorization/RoleAssignments_ListForResource.json")["value"]
    scope = items[2]["properties"]["scope"]
    read = convert.role_assignment_scope(scope, items)
    assert read.scope == scope
    assert [a.scope.count("/") for a in read.assignments] == [2, 4, 8]
    first = read.assignments[0]
    assert first.principal_id == "ce2ce14e-85d7-4629-bdbc-454d0519d987"
    assert first.principal_type == "User"
    assert first.role_definition_id.endswith("/0b5fe924-9a61-425c-96af-cfe6e287ca2d")
    assert first.role_name == ""  # not a built-in role the rules know
    named = dict(items[0], properties={**items[0]["properties"]})
    named["properties"]["roleDefinitionId"] = (
        "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2/providers/Microsoft.Authorization/"
        "roleDefinitions/4D97B98B-1D4F-4787-A291-C67834D212E7"
    )
    assert convert.role_assignment(named).role_name == "Network Contributor"
    assert convert.role_assignment(cli_shape(items[1])) == read.assignments[1]


def test_role_assignments_listed_for_a_subscription_scope() -> None:
    items = fixture("authorization/RoleAssignments_ListForScope.json")["value"]
    read = convert.role_assignment_scope(
        "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2", items
    )
    (assignment,) = read.assignments
    assert assignment.scope == "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"
    assert assignment.principal_id == "ce2ce14e-85d7-4629-bdbc-454d0519d987"
    assert assignment.role_definition_id.endswith("/0b5fe924-9a61-425c-96af-cfe6e287ca2d")


def test_single_role_assignment_get() -> None:
    assignment = convert.role_assignment(fixture("authorization/RoleAssignments_Get.json"))
    assert assignment.scope == "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"
    assert assignment.id.endswith("/roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747")


def test_provider_registration_state() -> None:
    registration = convert.resource_provider("sub-1", fixture("resources/GetProvider.json"))
    assert (registration.subscription_id, registration.namespace) == ("sub-1", "Microsoft.TestRP1")
    assert registration.registration_state == "Registering"


def test_agc_association_subnet() -> None:
    payload = fixture("servicenetworking/AssociationGet.json")
    association = convert.agc_association("tc", payload)
    assert association.source == "tc"
    assert association.association_type == "subnets"
    assert association.subnet_id.endswith("/virtualNetworks/vnet-tc/subnets/tc-subnet")
    assert association.provisioning_state == "Succeeded"
    assert association.id.endswith("/trafficControllers/tc1/associations/as1")
    assert convert.agc_association("tc", cli_shape(payload)) == association
