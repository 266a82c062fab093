"""The sandbox Kubernetes API server against kubectl and the official python client."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from netaudit.sandbox.kube_api import KubeApiServer, KubeFaults
from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.sample_fleet import SampleFleet, load_sample_fleet
from tests.conftest import require

CLUSTERS = ("aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu")


@pytest.fixture(scope="module")
def fleet() -> SampleFleet:
    return load_sample_fleet()


@pytest.fixture(scope="module")
def servers(fleet: SampleFleet) -> Iterator[dict[str, KubeApiServer]]:
    started = {name: KubeApiServer(fleet.cluster(name).kube_dir) for name in CLUSTERS}
    for server in started.values():
        server.start()
    yield started
    for server in started.values():
        server.stop()


def api_client(url: str) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    configuration.host = url
    configuration.retries = 0
    return k8s.ApiClient(configuration)


def get_json(url: str, accept: str = "application/json") -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def kubectl(server: KubeApiServer, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--server", server.url, "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_kubectl_lists_nodes_and_pods_of_every_namespace(
    cluster: str, servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    require("kubectl")
    server = servers[cluster]
    result = kubectl(server, tmp_path, "get", "nodes,pods", "-A", "-o", "wide")
    assert result.returncode == 0, result.stderr
    node_names = [
        o["metadata"]["name"]
        for o in server.store.objects(server.store.catalogue.by_kind("", "Node"))
    ]
    pods = server.store.objects(server.store.catalogue.by_kind("", "Pod"))
    for name in node_names:
        assert f"node/{name} " in result.stdout
    for pod in pods:
        assert f"pod/{pod['metadata']['name']} " in result.stdout
    # -o wide prints the priority-1 columns: node internal IPs and pod nodes.
    assert "INTERNAL-IP" in result.stdout and "NOMINATED NODE" in result.stdout


def test_kubectl_get_raw_returns_the_list_body(
    servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    require("kubectl")
    result = kubectl(servers["aks-cni-neu"], tmp_path, "get", "--raw", "/api/v1/nodes?limit=3")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["kind"] == "NodeList"
    assert len(body["items"]) == 3
    assert body["metadata"]["continue"]
    assert body["metadata"]["remainingItemCount"] == 5


def test_kubectl_reads_custom_resources_once_their_crd_exists(
    servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    require("kubectl")
    result = kubectl(servers["aks-overlay-priv-weu"], tmp_path, "get", "gateways,nnc", "-A")
    assert result.returncode == 0, result.stderr
    assert "gateway-01" in result.stdout
    assert "aks-nodepool1-40915282-vmss000000" in result.stdout
    missing = kubectl(servers["aks-kubenet-weu"], tmp_path, "get", "gateways", "-A")
    assert missing.returncode != 0
    assert "doesn't have a resource type" in missing.stderr


def test_python_client_deserialises_nodes_into_models(servers: dict[str, KubeApiServer]) -> None:
    with api_client(servers["aks-cni-neu"].url) as api:
        nodes = k8s.CoreV1Api(api).list_node()
    assert [n.metadata.name for n in nodes.items][-1] == "aksnpwin000000"
    assert len(nodes.items) == 8
    windows = nodes.items[-1]
    assert windows.status.node_info.operating_system == "windows"
    assert windows.metadata.labels["kubernetes.azure.com/os-sku"] == "Windows2022"
    assert all(n.spec.pod_cidr is None for n in nodes.items)


def test_python_client_pages_through_all_pods_with_continue(
    servers: dict[str, KubeApiServer],
) -> None:
    with api_client(servers["aks-overlay-priv-weu"].url) as api:
        core = k8s.CoreV1Api(api)
        everything = core.list_pod_for_all_namespaces()
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = core.list_pod_for_all_namespaces(limit=2, _continue=token)
            pages += 1
            assert len(page.items) <= 2
            assert page.metadata.resource_version == everything.metadata.resource_version
            seen += [f"{p.metadata.namespace}/{p.metadata.name}" for p in page.items]
            token = page.metadata.var_continue
            if not token:
                break
    expected = [f"{p.metadata.namespace}/{p.metadata.name}" for p in everything.items]
    assert seen == expected
    assert pages == (len(expected) + 1) // 2


def test_resource_version_zero_is_served_from_cache_and_ignores_limit(
    servers: dict[str, KubeApiServer],
) -> None:
    with api_client(servers["aks-cni-neu"].url) as api:
        pods = k8s.CoreV1Api(api).list_pod_for_all_namespaces(limit=2, resource_version="0")
    assert len(pods.items) > 2
    assert not pods.metadata.var_continue


def test_malformed_continue_token_answers_410_expired(servers: dict[str, KubeApiServer]) -> None:
    status, _, body = get_json(
        f"{servers['aks-kubenet-weu'].url}/api/v1/pods?limit=1&continue=not-a-token"
    )
    assert status == 410
    assert body["kind"] == "Status" and body["reason"] == "Expired"
    with (
        api_client(servers["aks-kubenet-weu"].url) as api,
        pytest.raises(k8s.ApiException) as raised,
    ):
        k8s.CoreV1Api(api).list_node(limit=1, _continue="eyJib2d1cyI6IDF9")
    assert raised.value.status == 410


def test_continue_token_of_another_resource_is_rejected(servers: dict[str, KubeApiServer]) -> None:
    url = servers["aks-kubenet-weu"].url
    _, _, first = get_json(f"{url}/api/v1/nodes?limit=1")
    status, _, _ = get_json(f"{url}/api/v1/pods?limit=1&continue={first['metadata']['continue']}")
    assert status == 410


def test_crd_group_is_absent_without_its_crd(servers: dict[str, KubeApiServer]) -> None:
    kubenet = servers["aks-kubenet-weu"].url
    status, _, body = get_json(
        f"{kubenet}/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways"
    )
    assert status == 404
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    _, _, groups = get_json(f"{kubenet}/apis")
    assert "gateway.networking.k8s.io" not in [g["name"] for g in groups["groups"]]
    with api_client(kubenet) as api, pytest.raises(k8s.ApiException) as raised:
        k8s.CustomObjectsApi(api).list_cluster_custom_object(
            "acn.azure.com", "v1alpha", "nodenetworkconfigs"
        )
    assert raised.value.status == 404


def test_crd_groups_are_discovered_and_served_when_present(
    servers: dict[str, KubeApiServer],
) -> None:
    url = servers["aks-overlay-priv-weu"].url
    _, _, group = get_json(f"{url}/apis/gateway.networking.k8s.io")
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    _, _, resources = get_json(f"{url}/apis/gateway.networking.k8s.io/v1beta1")
    assert "referencegrants" in [r["name"] for r in resources["resources"]]
    with api_client(url) as api:
        gateways = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", "test-infra", "gateways"
        )
    gateway = gateways["items"][0]
    conditions = {c["type"]: c for c in gateway["status"]["conditions"]}
    assert conditions["Programmed"]["status"] == "False"
    assert conditions["Programmed"]["reason"] == "AddressNotAssigned"
    assert conditions["Accepted"]["observedGeneration"] == gateway["metadata"]["generation"]


def test_get_of_missing_object_is_a_not_found_status(servers: dict[str, KubeApiServer]) -> None:
    status, _, body = get_json(
        f"{servers['aks-kubenet-weu'].url}/api/v1/namespaces/kube-system/configmaps/nope"
    )
    assert status == 404
    assert body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "kind": "configmaps"}


def test_label_and_field_selectors_filter_lists(servers: dict[str, KubeApiServer]) -> None:
    with api_client(servers["aks-cni-neu"].url) as api:
        core = k8s.CoreV1Api(api)
        windows = core.list_node(label_selector="kubernetes.io/os=windows")
        linux = core.list_node(label_selector="kubernetes.io/os!=windows,kubernetes.azure.com/mode")
        on_windows = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=aksnpwin000000")
        kube_proxy = core.list_namespaced_pod(
            "kube-system", label_selector="component in (kube-proxy)"
        )
    assert [n.metadata.name for n in windows.items] == ["aksnpwin000000"]
    assert len(linux.items) == 7
    assert [p.metadata.name.split("-")[0] for p in on_windows.items] == ["invoice"]
    assert len(kube_proxy.items) == 7 and all(p.spec.host_network for p in kube_proxy.items)


def test_unsupported_field_selector_is_a_bad_request(servers: dict[str, KubeApiServer]) -> None:
    status, _, body = get_json(
        f"{servers['aks-cni-neu'].url}/api/v1/nodes?fieldSelector=spec.podCIDR%3Dx"
    )
    assert status == 400
    assert "field label not supported" in body["message"]


def test_server_side_table_carries_wide_columns_and_object_metadata(
    servers: dict[str, KubeApiServer],
) -> None:
    url = f"{servers['aks-kubenet-weu'].url}/api/v1/pods?limit=500"
    _, _, body = get_json(
        url, accept="application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    )
    assert body["kind"] == "Table"
    names = [c["name"] for c in body["columnDefinitions"]]
    assert names[:3] == ["Name", "Ready", "Status"] and "Node" in names
    assert body["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert body["rows"][0]["object"]["metadata"]["namespace"]


def test_pod_log_is_read_from_the_fixture_and_tailed(servers: dict[str, KubeApiServer]) -> None:
    server = servers["aks-overlay-priv-weu"]
    with api_client(server.url) as api:
        core = k8s.CoreV1Api(api)
        coredns = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items[
            0
        ]
        log = core.read_namespaced_pod_log(coredns.metadata.name, "kube-system")
        tail = core.read_namespaced_pod_log(coredns.metadata.name, "kube-system", tail_lines=1)
        proxy = core.list_namespaced_pod(
            "kube-system", label_selector="component=kube-proxy"
        ).items[0]
        empty = core.read_namespaced_pod_log(proxy.metadata.name, "kube-system")
    assert "this plugin can only be used once per Server Block" in log
    assert tail.startswith("[ERROR] plugin/reload: Corefile changed but reload failed")
    assert tail.count("\n") == 1
    assert empty == ""


def test_watch_streams_the_current_objects_as_added_events(
    servers: dict[str, KubeApiServer],
) -> None:
    url = f"{servers['aks-kubenet-weu'].url}/api/v1/nodes?watch=true&timeoutSeconds=0"
    with urllib.request.urlopen(url, timeout=5) as response:
        events = [json.loads(line) for line in response.read().splitlines()]
    assert [e["type"] for e in events] == ["ADDED"] * 3
    assert events[0]["object"]["kind"] == "Node"


def test_writes_are_refused(servers: dict[str, KubeApiServer]) -> None:
    request = urllib.request.Request(
        f"{servers['aks-kubenet-weu'].url}/api/v1/namespaces", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    with raised.value as error:
        assert error.code == 405


def test_forbidden_resource_answers_403_status(fleet: SampleFleet) -> None:
    faults = KubeFaults(forbidden={"nodenetworkconfigs.acn.azure.com", "configmaps"})
    with KubeApiServer(fleet.cluster("aks-overlay-priv-weu").kube_dir, faults=faults) as server:
        status, _, body = get_json(
            f"{server.url}/apis/acn.azure.com/v1alpha/namespaces/kube-system/nodenetworkconfigs"
        )
        with api_client(server.url) as api, pytest.raises(k8s.ApiException) as raised:
            k8s.CoreV1Api(api).read_namespaced_config_map("coredns", "kube-system")
        nodes_status, _, _ = get_json(f"{server.url}/api/v1/nodes")
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["details"] == {"kind": "nodenetworkconfigs", "group": "acn.azure.com"}
    assert (
        'cannot list resource "nodenetworkconfigs" in API group "acn.azure.com"' in body["message"]
    )
    assert raised.value.status == 403
    assert nodes_status == 200


def test_expiring_continue_tokens_answer_410_on_the_second_page(fleet: SampleFleet) -> None:
    faults = KubeFaults(expiring_continue={"pods"})
    kube_dir = fleet.cluster("aks-kubenet-weu").kube_dir
    with KubeApiServer(kube_dir, faults=faults) as server, api_client(server.url) as api:
        core = k8s.CoreV1Api(api)
        first = core.list_pod_for_all_namespaces(limit=5)
        with pytest.raises(k8s.ApiException) as raised:
            core.list_pod_for_all_namespaces(limit=5, _continue=first.metadata.var_continue)
        # Other resources keep working continue tokens.
        nodes = core.list_node(limit=1)
        core.list_node(limit=1, _continue=nodes.metadata.var_continue)
    assert len(first.items) == 5
    assert raised.value.status == 410
    assert json.loads(raised.value.body)["reason"] == "Expired"


def test_a_compacted_continue_token_answers_410_with_a_fresh_token_once(
    fleet: SampleFleet,
) -> None:
    faults = KubeFaults(continue_expiries={"pods": 1})
    kube_dir = fleet.cluster("aks-kubenet-weu").kube_dir
    with KubeApiServer(kube_dir, faults=faults) as server, api_client(server.url) as api:
        core = k8s.CoreV1Api(api)
        everything = core.list_pod_for_all_namespaces().items
        first = core.list_pod_for_all_namespaces(limit=5)
        token = first.metadata.var_continue
        with pytest.raises(k8s.ApiException) as raised:
            core.list_pod_for_all_namespaces(limit=5, _continue=token)
        status = json.loads(raised.value.body)
        # The fresh token continues where the expired one would have (at the latest revision).
        rest = core.list_pod_for_all_namespaces(_continue=status["metadata"]["continue"])
        # The fault is spent: the original token works again.
        again = core.list_pod_for_all_namespaces(limit=5, _continue=token)
    assert raised.value.status == 410
    assert status["reason"] == "Expired"
    assert "use the continue token in this response" in status["message"]
    names = [p.metadata.name for p in [*first.items, *rest.items]]
    assert names == [p.metadata.name for p in everything]
    assert [p.metadata.name for p in again.items] == names[5:10]


def test_throttling_answers_429_with_retry_after_then_recovers(fleet: SampleFleet) -> None:
    faults = KubeFaults(too_many_requests=2, retry_after_seconds=3)
    with KubeApiServer(fleet.cluster("aks-kubenet-weu").kube_dir, faults=faults) as server:
        answers = [get_json(f"{server.url}/api/v1/nodes") for _ in range(3)]
    assert [status for status, _, _ in answers] == [429, 429, 200]
    assert answers[0][1]["Retry-After"] == "3"
    assert answers[0][2]["reason"] == "TooManyRequests"
    assert answers[0][2]["details"]["retryAfterSeconds"] == 3


def test_rbac_roles_are_enforced_per_verb_resource_namespace_and_name(fleet: SampleFleet) -> None:
    rbac = RbacPolicy.from_objects(
        [
            {
                "kind": "ClusterRole",
                "rules": [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list"]}],
            },
            {
                "kind": "Role",
                "metadata": {"namespace": "kube-system"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "resourceNames": ["coredns"],
                        "verbs": ["get"],
                    },
                    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                ],
            },
        ]
    )
    with KubeApiServer(fleet.cluster("aks-overlay-priv-weu").kube_dir, rbac=rbac) as server:
        url = server.url
        allowed = [
            f"{url}/api/v1/nodes",
            f"{url}/api/v1/namespaces/kube-system/configmaps/coredns",
            f"{url}/api",
            f"{url}/apis/acn.azure.com/v1alpha",
        ]
        denied = [
            f"{url}/api/v1/nodes/aks-nodepool1-40915282-vmss000000",
            f"{url}/api/v1/namespaces/kube-system/configmaps",
            f"{url}/api/v1/namespaces/kube-system/configmaps/coredns-custom",
            f"{url}/apis/acn.azure.com/v1alpha/nodenetworkconfigs",
        ]
        allowed_status = [get_json(u)[0] for u in allowed]
        denied_answers = [get_json(u) for u in denied]
        with api_client(url) as api:
            core = k8s.CoreV1Api(api)
            pod = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items[
                0
            ]
            assert "reload failed" in core.read_namespaced_pod_log(pod.metadata.name, "kube-system")
    assert allowed_status == [200] * len(allowed)
    assert [status for status, _, _ in denied_answers] == [403] * len(denied)
    message = denied_answers[1][2]["message"]
    assert (
        'cannot list resource "configmaps" in API group "" in the namespace "kube-system"'
        in message
    )
