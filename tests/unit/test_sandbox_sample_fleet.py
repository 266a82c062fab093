"""The sample fleet agrees with itself (ARM, Kubernetes, DNS) and with the strict client models."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from netaudit.sandbox.kube_objects import KubeObjectStore
from netaudit.sandbox.sample_fleet import SampleFleet, load_sample_fleet

MODELS = {
    ("", "Node"): "V1Node",
    ("", "Pod"): "V1Pod",
    ("", "Service"): "V1Service",
    ("", "ConfigMap"): "V1ConfigMap",
    ("", "Namespace"): "V1Namespace",
    ("", "ServiceAccount"): "V1ServiceAccount",
    ("apps", "Deployment"): "V1Deployment",
    ("apps", "DaemonSet"): "V1DaemonSet",
    ("apps", "ReplicaSet"): "V1ReplicaSet",
    ("networking.k8s.io", "Ingress"): "V1Ingress",
    ("networking.k8s.io", "IngressClass"): "V1IngressClass",
    ("networking.k8s.io", "NetworkPolicy"): "V1NetworkPolicy",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "V1CustomResourceDefinition",
}


@pytest.fixture(scope="module")
def fleet() -> SampleFleet:
    return load_sample_fleet()


@pytest.fixture(scope="module")
def stores(fleet: SampleFleet) -> dict[str, KubeObjectStore]:
    return {c.name: KubeObjectStore.load(c.kube_dir) for c in fleet.clusters}


def objects(store: KubeObjectStore, group: str, kind: str) -> list[dict[str, Any]]:
    resource = store.catalogue.by_kind(group, kind)
    return [] if resource is None else store.objects(resource)


def cluster_body(fleet: SampleFleet, name: str) -> dict[str, Any]:
    body = fleet.arm.get(fleet.cluster(name).arm_resource_id)
    assert body is not None
    return body


def subnet_prefix(fleet: SampleFleet, subnet_id: str) -> ipaddress.IPv4Network:
    subnet = fleet.arm.get(subnet_id)
    assert subnet is not None, subnet_id
    return ipaddress.IPv4Network(subnet["properties"]["addressPrefix"])


def test_every_builtin_object_deserialises_into_the_strict_client_models(
    stores: dict[str, KubeObjectStore],
) -> None:
    api = k8s.ApiClient()
    try:
        checked = 0
        for store in stores.values():
            for (group, kind), model in MODELS.items():
                for obj in objects(store, group, kind):
                    api.deserialize(json.dumps(obj), model, "application/json")
                    checked += 1
    finally:
        api.close()
    assert checked > 200


def test_fleet_has_three_clusters_in_two_subscriptions(fleet: SampleFleet) -> None:
    assert [(c.name, c.subscription_id, c.resource_group, c.region) for c in fleet.clusters] == [
        (
            "aks-kubenet-weu",
            "aaaaaaaa-0000-0000-0000-000000000001",
            "rg-platform-weu",
            "westeurope",
        ),
        ("aks-cni-neu", "aaaaaaaa-0000-0000-0000-000000000001", "rg-payments-neu", "northeurope"),
        (
            "aks-overlay-priv-weu",
            "bbbbbbbb-0000-0000-0000-000000000002",
            "rg-shop-weu",
            "westeurope",
        ),
    ]
    assert (fleet.tenant_id, fleet.client_id, fleet.client_secret) == (
        "11111111-1111-1111-1111-111111111111",
        "netaudit-sandbox",
        "sandbox-secret",
    )


@pytest.mark.parametrize("cluster", ["aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"])
def test_nodes_match_the_arm_pools_and_sit_in_their_subnet(
    cluster: str, fleet: SampleFleet, stores: dict[str, KubeObjectStore]
) -> None:
    body = cluster_body(fleet, cluster)
    nodes = objects(stores[cluster], "", "Node")
    for pool in body["properties"]["agentPoolProfiles"]:
        members = [
            n
            for n in nodes
            if n["metadata"]["labels"]["kubernetes.azure.com/agentpool"] == pool["name"]
        ]
        assert len(members) == pool["count"]
        prefix = subnet_prefix(fleet, pool["vnetSubnetID"])
        for node in members:
            address = next(
                a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"
            )
            assert ipaddress.IPv4Address(address) in prefix
            assert node["status"]["allocatable"]["pods"] == str(pool["maxPods"])
            assert node["metadata"]["labels"]["kubernetes.io/os"] == pool["osType"].lower()
            assert (
                node["metadata"]["labels"]["kubernetes.azure.com/cluster"]
                == body["properties"]["nodeResourceGroup"]
            )


def test_kubenet_cluster_nodes_carry_pod_cidrs_routed_by_the_route_table(
    fleet: SampleFleet, stores: dict[str, KubeObjectStore]
) -> None:
    body = cluster_body(fleet, "aks-kubenet-weu")
    pod_cidr = ipaddress.IPv4Network(body["properties"]["networkProfile"]["podCidr"])
    nodes = objects(stores["aks-kubenet-weu"], "", "Node")
    cidrs = [n["spec"]["podCIDR"] for n in nodes]
    assert cidrs == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    assert all(ipaddress.IPv4Network(c).subnet_of(pod_cidr) for c in cidrs)
    subnet = fleet.arm.get(body["properties"]["agentPoolProfiles"][0]["vnetSubnetID"])
    assert subnet is not None
    route_table = fleet.arm.get(subnet["properties"]["routeTable"]["id"])
    assert route_table is not None
    assert (
        sorted(r["properties"]["addressPrefix"] for r in route_table["properties"]["routes"])
        == cidrs
    )
    daemonsets = {
        d["metadata"]["name"] for d in objects(stores["aks-kubenet-weu"], "apps", "DaemonSet")
    }
    assert "kube-proxy" in daemonsets and "azure-cns" not in daemonsets
    assert (
        objects(stores["aks-kubenet-weu"], "apiextensions.k8s.io", "CustomResourceDefinition") == []
    )


def test_cni_node_subnet_usage_is_every_node_reserving_max_pods_plus_one(
    fleet: SampleFleet,
) -> None:
    body = cluster_body(fleet, "aks-cni-neu")
    pools = body["properties"]["agentPoolProfiles"]
    assert body["properties"]["networkProfile"]["networkPlugin"] == "azure"
    assert "networkPluginMode" not in body["properties"]["networkProfile"]
    assert all("podSubnetID" not in p for p in pools)
    reserved = sum(p["count"] * (p["maxPods"] + 1) for p in pools)
    vnet_id = pools[0]["vnetSubnetID"].rsplit("/subnets/", 1)[0]
    rows = fleet.arm.usage_rows(vnet_id)
    assert rows is not None
    (row,) = [r for r in rows if r["id"].lower() == pools[0]["vnetSubnetID"].lower()]
    assert (row["currentValue"], row["limit"]) == (reserved, 251.0) == (248, 251.0)
    usable = subnet_prefix(fleet, pools[0]["vnetSubnetID"]).num_addresses - 5
    # What CNI-001 computes: autoscaler maximum plus one surge node per pool (no upgradeSettings).
    needed = sum(
        ((p["maxCount"] if p.get("enableAutoScaling") else p["count"]) + 1) * (p["maxPods"] + 1)
        for p in pools
    )
    assert (needed, usable) == (403, 251)
    assert all(p["upgradeSettings"] == {} for p in pools)


def test_overlay_cluster_has_overlay_evidence_and_its_private_fqdn_resolves(
    fleet: SampleFleet, stores: dict[str, KubeObjectStore]
) -> None:
    store = stores["aks-overlay-priv-weu"]
    nodes = objects(store, "", "Node")
    nnc = objects(store, "acn.azure.com", "NodeNetworkConfig")
    assert sorted(n["metadata"]["name"] for n in nnc) == sorted(
        n["metadata"]["name"] for n in nodes
    )
    assert {c["type"] for n in nnc for c in n["status"]["networkContainers"]} == {"overlay"}
    assert all(
        n["metadata"]["labels"]["kubernetes.azure.com/podnetwork-type"] == "overlay" for n in nodes
    )
    body = cluster_body(fleet, "aks-overlay-priv-weu")
    fqdn = body["properties"]["privateFQDN"]
    assert fleet.dns_records[fqdn] == ("10.30.0.7",)
    assert fqdn in fleet.cluster("aks-overlay-priv-weu").dns_probe_names
    zone = (
        "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-dns"
        "/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    )
    record = fleet.arm.get(f"{zone}/A/{fqdn.split('.')[0]}")
    assert record is not None and record["properties"]["aRecords"] == [{"ipv4Address": "10.30.0.7"}]


def test_overlay_coredns_custom_carries_the_forward_override_and_a_valid_server_block(
    stores: dict[str, KubeObjectStore],
) -> None:
    config_maps = {
        c["metadata"]["name"]: c for c in objects(stores["aks-overlay-priv-weu"], "", "ConfigMap")
    }
    custom = config_maps["coredns-custom"]["data"]
    assert custom["upstream.override"].strip() == "forward . 168.63.129.16"
    assert any(key.endswith(".server") for key in custom)
    assert "import custom/*.override" in config_maps["coredns"]["data"]["Corefile"]


def test_overlay_gateway_is_accepted_but_not_programmed(stores: dict[str, KubeObjectStore]) -> None:
    store = stores["aks-overlay-priv-weu"]
    (gateway,) = objects(store, "gateway.networking.k8s.io", "Gateway")
    (gateway_class,) = objects(store, "gateway.networking.k8s.io", "GatewayClass")
    conditions = {c["type"]: c for c in gateway["status"]["conditions"]}
    assert (conditions["Accepted"]["status"], conditions["Programmed"]["status"]) == (
        "True",
        "False",
    )
    assert conditions["Programmed"]["reason"] == "AddressNotAssigned"
    assert all(
        c["observedGeneration"] == gateway["metadata"]["generation"] for c in conditions.values()
    )
    assert all(c["lastTransitionTime"] == "2026-11-01T00:00:00Z" for c in conditions.values())
    assert gateway_class["status"]["conditions"][0]["status"] == "True"
    crds = objects(store, "apiextensions.k8s.io", "CustomResourceDefinition")
    bundle = {
        c["metadata"].get("annotations", {}).get("gateway.networking.k8s.io/bundle-version")
        for c in crds
    }
    assert "v1.2.1" in bundle


def test_cni_cluster_runs_external_dns_with_an_owner_id(stores: dict[str, KubeObjectStore]) -> None:
    deployments = {
        d["metadata"]["name"]: d for d in objects(stores["aks-cni-neu"], "apps", "Deployment")
    }
    args = deployments["external-dns"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--provider=azure" in args and "--txt-owner-id=payments" in args
    (ingress,) = objects(stores["aks-cni-neu"], "networking.k8s.io", "Ingress")
    assert "external-dns.kubernetes.io/hostname" in ingress["metadata"]["annotations"]


def test_manifest_accounts_for_every_data_file(fleet: SampleFleet) -> None:
    manifest = (fleet.root / "MANIFEST.md").read_text()
    files = [
        p for p in fleet.root.rglob("*") if p.is_file() and p.suffix in {".yaml", ".json", ".txt"}
    ]
    assert files
    for path in files:
        relative = path.relative_to(fleet.root).as_posix()
        pattern = relative if "/logs/" not in relative else relative.rsplit("/", 1)[0] + "/"
        assert pattern in manifest, f"MANIFEST.md does not mention {relative}"


def test_fleet_yaml_is_plain_yaml(fleet: SampleFleet) -> None:
    manifest = yaml.safe_load((fleet.root / "fleet.yaml").read_text())
    assert {c["name"] for c in manifest["clusters"]} == {c.name for c in fleet.clusters}
    assert isinstance(fleet.root, Path)
