"""IP math of domain.md §1.1, §1.3, §1.4, §1.11: usable IPs, N, S, per-subnet needs and usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netaudit.collector.analysis.ip_capacity import (
    PoolCapacityUnknown,
    PoolTerm,
    SubnetRole,
    internal_load_balancer_frontends,
    pool_node_count,
    pool_surge,
    subnet_requirements,
    subnet_utilisation,
    usable_ips,
)
from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.inventory import convert
from netaudit.v1 import inventory_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES

SUB = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/"
    "Microsoft.Network"
)
VNET = f"{SUB}/virtualNetworks/vnet-neu"
SNET = f"{VNET}/subnets/snet-cni"


def fixture(relative: str) -> Any:
    data = json.loads((SHARED_FIXTURES / "arm" / relative).read_text())
    return data["responses"]["200"]["body"] if "responses" in data else data


@pytest.mark.parametrize(
    ("prefix", "usable"),
    [
        (24, 251),
        (16, 65531),
        (21, 2043),
        (22, 1019),
        (28, 11),
        (29, 3),
        (30, 0),
        (32, 0),
        (8, 16777211),
    ],
)
def test_usable_ips_keep_five_addresses_back(prefix: int, usable: int) -> None:
    assert usable_ips(prefix) == usable


@pytest.mark.parametrize("prefix", [-1, 33])
def test_prefix_length_out_of_range_is_refused(prefix: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.32"):
        usable_ips(prefix)


def pool(**properties: Any) -> inventory_pb2.AgentPool:
    """An agent pool from an agentPoolProfiles entry (REST names)."""
    return convert.agent_pool({"name": properties.pop("name", "pool"), **properties})


def test_domain_example_fifty_nodes_at_thirty_pods_need_1581_ips() -> None:
    # domain.md §1.3 (A-IPP): 50 nodes, surge 1, maxPods 30: 51 + 51*30 = 1,581 -> /21.
    fifty = pool(count=50, maxPods=30, upgradeSettings={"maxSurge": "1"})
    term = PoolTerm("p", pool_node_count(fifty), pool_surge(fifty), fifty.max_pods + 1)
    assert term.ips == 1581
    assert usable_ips(21) >= term.ips > usable_ips(22)


def test_a_slash_24_holds_eight_nodes_at_thirty_pods() -> None:
    # A-LEG: "/24 ... max 8 nodes / 240 pods at default 30".
    assert 8 * 31 <= usable_ips(24) < 9 * 31


@pytest.mark.parametrize(
    ("properties", "nodes"),
    [
        ({"count": 3, "enableAutoScaling": True, "minCount": 1, "maxCount": 10}, 10),
        ({"count": 3, "enableAutoScaling": False, "maxCount": 10}, 3),
        ({"count": 0}, 0),
    ],
)
def test_node_count_is_max_count_only_when_autoscaling(
    properties: dict[str, Any], nodes: int
) -> None:
    assert pool_node_count(pool(**properties)) == nodes


def test_an_autoscaling_pool_without_max_count_has_no_known_size() -> None:
    with pytest.raises(PoolCapacityUnknown, match="autoscales but ARM gave no maxCount"):
        pool_node_count(pool(count=4, enableAutoScaling=True))


@pytest.mark.parametrize(
    ("max_surge", "count", "version", "cluster_version", "surge"),
    [
        ("", 10, "1.25.6", "", 1),  # unset before 1.27: 1
        ("", 30, "", "1.25.6", 1),  # pool version missing: the cluster's
        ("", 10, "1.27.3", "", 1),  # unset from 1.27: ceil(10% of 10)
        ("", 50, "1.29.0", "", 5),
        ("", 11, "1.28.5", "", 2),  # ceil(1.1)
        ("", 0, "1.30.0", "", 0),
        ("", 30, "x.xx.xx", "", 3),  # unknown version: the 10% default
        ("0", 10, "1.29.0", "", 0),
        ("3", 10, "1.29.0", "", 3),
        ("33%", 10, "1.29.0", "", 4),  # ceil(3.3), exact arithmetic
        ("33%", 3, "1.29.0", "", 1),  # ceil(0.99)
        ("100%", 7, "1.29.0", "", 7),
        ("12.5%", 8, "1.29.0", "", 1),
    ],
)
def test_surge_resolution(
    max_surge: str, count: int, version: str, cluster_version: str, surge: int
) -> None:
    subject = pool(
        count=count, orchestratorVersion=version, upgradeSettings={"maxSurge": max_surge or None}
    )
    assert pool_surge(subject, cluster_version) == surge


def test_percentage_surge_is_of_max_count_when_autoscaling() -> None:
    subject = pool(
        count=2, enableAutoScaling=True, maxCount=10, upgradeSettings={"maxSurge": "50%"}
    )
    assert pool_surge(subject) == 5


def test_surge_from_the_fixture_pool_with_33_percent() -> None:
    # AgentPoolsGet.json: count 3, maxSurge "33%" -> ceil(0.99) = 1.
    assert pool_surge(convert.agent_pool(fixture("managedclusters/AgentPoolsGet.json"))) == 1


@pytest.mark.parametrize("max_surge", ["abc", "-1", "%"])
def test_malformed_surge_names_the_pool(max_surge: str) -> None:
    with pytest.raises(ValueError, match="pool bad: maxSurge"):
        pool_surge(pool(name="bad", count=3, upgradeSettings={"maxSurge": max_surge}))


def cluster(
    pools: list[dict[str, Any]],
    subnets: list[dict[str, Any]],
    *,
    plugin: str = "azure",
    mode: str | None = None,
    version: str = "1.25.6",
    api: dict[str, Any] | None = None,
) -> inventory_pb2.ClusterInventory:
    inventory = convert.cluster_inventory(
        {
            "id": "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
            "Microsoft.ContainerService/managedClusters/c1",
            "name": "c1",
            "properties": {
                "kubernetesVersion": version,
                "networkProfile": {"networkPlugin": plugin, "networkPluginMode": mode},
                "agentPoolProfiles": pools,
                "apiServerAccessProfile": api,
            },
        }
    )
    inventory.subnets.extend(convert.subnet(s) for s in subnets)
    return inventory


def subnet_body(
    subnet_id: str = SNET, prefix: str = "10.10.0.0/24", **properties: Any
) -> dict[str, Any]:
    return {
        "id": subnet_id,
        "name": subnet_id.rsplit("/", 1)[1],
        "properties": {"addressPrefix": prefix, **properties},
    }


CNI_NEU_POOLS = [
    {
        "name": "nodepool1",
        "count": 3,
        "enableAutoScaling": True,
        "minCount": 1,
        "maxCount": 10,
        "maxPods": 30,
        "vnetSubnetID": SNET,
        "orchestratorVersion": "1.25.6",
        "upgradeSettings": {},
    },
    {
        "name": "npwin",
        "count": 1,
        "maxPods": 30,
        "osType": "Windows",
        "vnetSubnetID": SNET,
        "orchestratorVersion": "1.25.6",
        "upgradeSettings": {},
    },
]


def test_node_subnet_requirement_sums_pools_sharing_the_subnet() -> None:
    (requirement,) = subnet_requirements(cluster(CNI_NEU_POOLS, [subnet_body()]))
    assert [t.formula() for t in requirement.pool_terms] == ["(10+1)*31=341", "(1+1)*31=62"]
    assert requirement.required == 403
    assert requirement.usable == 251
    assert requirement.shortfall == 152
    assert requirement.other_consumers == {}


def test_subnet_ids_match_case_insensitively() -> None:
    inventory = cluster(
        CNI_NEU_POOLS, [subnet_body(SNET.replace("resourceGroups", "resourcegroups").upper())]
    )
    assert [r.required for r in subnet_requirements(inventory)] == [403]


def test_pools_on_the_managed_vnet_or_unread_subnets_are_not_sized() -> None:
    real = convert.cluster_inventory(
        fixture("managedclusters/azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json")
    )
    assert subnet_requirements(real) == []
    assert subnet_requirements(cluster(CNI_NEU_POOLS, [])) == []


def test_private_cluster_adds_its_api_endpoint_to_the_first_pool_subnet() -> None:
    other = f"{VNET}/subnets/snet-user"
    pools = [CNI_NEU_POOLS[0], {**CNI_NEU_POOLS[1], "vnetSubnetID": other}]
    inventory = cluster(
        pools,
        [
            subnet_body(),
            subnet_body(other, "10.10.1.0/24", privateEndpoints=[{"id": "pe1"}, {"id": "pe2"}]),
        ],
        api={"enablePrivateCluster": True, "privateDNSZone": "system"},
    )
    first, second = subnet_requirements(inventory)
    assert first.other_consumers == {"api_server_private_endpoint": 1}
    assert first.required == 341 + 1
    assert second.other_consumers == {"private_endpoints": 2}


def test_listed_api_endpoint_is_not_counted_twice() -> None:
    inventory = cluster(
        CNI_NEU_POOLS,
        [subnet_body(privateEndpoints=[{"id": "kube-apiserver-pe"}])],
        api={"enablePrivateCluster": True},
    )
    (requirement,) = subnet_requirements(inventory)
    assert requirement.other_consumers == {"api_server_private_endpoint": 1}


def test_vnet_integration_puts_no_endpoint_in_the_node_subnet() -> None:
    inventory = cluster(
        CNI_NEU_POOLS,
        [subnet_body()],
        api={"enablePrivateCluster": True, "enableVnetIntegration": True},
    )
    assert subnet_requirements(inventory)[0].other_consumers == {}


def test_internal_load_balancer_frontends_count_unique_addresses_and_pending_services() -> None:
    # Hand-made Services (no published AKS Service list with internal LBs).
    report = report_pb2.Report(
        load_balancer_services=[
            report_pb2.LoadBalancerService(
                name="a", internal=True, load_balancer_addresses=["10.10.0.100"]
            ),
            report_pb2.LoadBalancerService(
                name="b", internal=True, load_balancer_addresses=["10.10.0.100"]
            ),
            report_pb2.LoadBalancerService(name="c", internal=True),
            report_pb2.LoadBalancerService(
                name="public", internal=False, load_balancer_addresses=["20.1.1.1"]
            ),
            report_pb2.LoadBalancerService(
                name="elsewhere",
                internal=True,
                annotations={
                    "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "snet-lb"
                },
            ),
        ]
    )
    assert internal_load_balancer_frontends(report) == 2
    (requirement,) = subnet_requirements(cluster(CNI_NEU_POOLS, [subnet_body()]), report=report)
    assert requirement.other_consumers == {"internal_load_balancer_frontends": 2}
    assert requirement.required == 405


@pytest.mark.parametrize(
    ("plugin", "mode", "model", "required"),
    [
        ("azure", "overlay", NetworkModel.AZURE_OVERLAY, 11 + 2),
        ("kubenet", None, NetworkModel.KUBENET, 11 + 2),
        ("azure", None, NetworkModel.AZURE_NODE_SUBNET, 403),
    ],
)
def test_node_subnet_needs_follow_the_network_model(
    plugin: str, mode: str | None, model: NetworkModel, required: int
) -> None:
    inventory = cluster(CNI_NEU_POOLS, [subnet_body()], plugin=plugin, mode=mode)
    assert [r.required for r in subnet_requirements(inventory, model)] == [required]
    assert [r.required for r in subnet_requirements(inventory)] == [required]


@pytest.mark.parametrize(("max_pods", "per_node"), [(30, 32), (31, 32), (32, 48), (15, 16)])
def test_static_block_pod_subnet_takes_whole_blocks_of_16(max_pods: int, per_node: int) -> None:
    pod_subnet = f"{VNET}/subnets/snet-pods"
    pools = [
        {
            "name": "p",
            "count": 4,
            "maxPods": max_pods,
            "vnetSubnetID": SNET,
            "podSubnetID": pod_subnet,
            "podIPAllocationMode": "StaticBlock",
            "upgradeSettings": {"maxSurge": "1"},
        }
    ]
    inventory = cluster(pools, [subnet_body(), subnet_body(pod_subnet, "10.11.0.0/16")])
    (pods,) = subnet_requirements(inventory, role=SubnetRole.POD)
    assert pods.required == 5 * per_node
    (nodes,) = subnet_requirements(inventory)
    assert nodes.required == 5


def test_dynamic_pod_subnet_plans_one_batch_of_16_per_node() -> None:
    pod_subnet = f"{VNET}/subnets/snet-pods"
    pools = [
        {
            "name": "p",
            "count": 4,
            "maxPods": 110,
            "vnetSubnetID": SNET,
            "podSubnetID": pod_subnet,
            "upgradeSettings": {"maxSurge": "1"},
        }
    ]
    inventory = cluster(pools, [subnet_body(), subnet_body(pod_subnet, "10.11.0.0/16")])
    assert [r.required for r in subnet_requirements(inventory, role=SubnetRole.POD)] == [80]


def test_models_without_a_formula_give_nothing() -> None:
    inventory = cluster(CNI_NEU_POOLS, [subnet_body()], plugin="none")
    assert subnet_requirements(inventory) == []
    assert subnet_requirements(inventory, NetworkModel.AZURE_OVERLAY, SubnetRole.POD) == []


def usage(subnet_id: str, used: float, limit: float) -> dict[str, Any]:
    return {
        "id": subnet_id,
        "currentValue": used,
        "limit": limit,
        "name": {"value": "SubnetSpace"},
        "unit": "Count",
    }


def test_utilisation_of_the_cluster_subnets_from_usages() -> None:
    inventory = cluster(CNI_NEU_POOLS, [subnet_body()])
    inventory.virtual_networks.append(
        convert.virtual_network(
            {"id": VNET}, [usage(SNET.lower(), 248, 251), usage(f"{VNET}/subnets/other", 9, 10)]
        )
    )
    (row,) = subnet_utilisation(inventory)
    assert (row.subnet_id, row.role, row.used, row.limit) == (SNET, SubnetRole.NODE, 248, 251)
    assert round(row.ratio, 3) == 0.988


def test_utilisation_skips_rows_without_a_limit() -> None:
    rows = fixture("network/VirtualNetworkListUsage.json")["value"]
    pools = [{"name": "p", "count": 1, "vnetSubnetID": rows[0]["id"], "podSubnetID": rows[1]["id"]}]
    inventory = cluster(pools, [])
    inventory.virtual_networks.append(convert.virtual_network({}, rows))
    assert [
        (u.subnet_id.rsplit("/", 1)[1], u.role, u.used, u.limit)
        for u in subnet_utilisation(inventory)
    ] == [("newSubnet", SubnetRole.POD, 2, 3)]
