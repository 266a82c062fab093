"""What a kubectl user sees of the sandbox: CRD printer columns and short names,
EndpointSlices, and ``kubectl auth can-i`` answered from the RBAC policy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.sandbox.kube_api import KubeApiServer, KubeFaults
from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.sample_fleet import SampleFleet, load_sample_fleet
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
AGENT_ROLES = REPO / "deploy" / "rbac" / "agent-clusterrole.yaml"
CLUSTERS = ("aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu")
GATEWAY_CLUSTER = "aks-overlay-priv-weu"


@pytest.fixture(scope="module")
def fleet() -> SampleFleet:
    require("kubectl")
    return load_sample_fleet()


@pytest.fixture(scope="module")
def servers(fleet: SampleFleet) -> Iterator[dict[str, KubeApiServer]]:
    started = {name: KubeApiServer(fleet.cluster(name).kube_dir) for name in CLUSTERS}
    for server in started.values():
        server.start()
    yield started
    for server in started.values():
        server.stop()


def kubectl(url: str, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--server", url, "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def table(output: str) -> list[list[str]]:
    """kubectl's table output as rows of cells (cells are separated by 2+ spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


def header(output: str) -> list[str]:
    return table(output)[0]


def test_gateways_print_the_crd_columns_and_answer_to_their_short_name(
    servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    url = servers[GATEWAY_CLUSTER].url
    for name in ("gateways", "gtw", "gateway.gateway.networking.k8s.io"):
        result = kubectl(url, tmp_path, "get", name, "-A")
        assert result.returncode == 0, result.stderr
        assert header(result.stdout) == [
            "NAMESPACE",
            "NAME",
            "CLASS",
            "ADDRESS",
            "PROGRAMMED",
            "AGE",
        ]
        (row,) = [line.split() for line in result.stdout.splitlines()[1:]]
        # The fixture's gateway has no address yet and is not programmed.
        assert row[:4] == ["test-infra", "gateway-01", "azure-alb-external", "False"]


def test_priority_columns_show_only_with_wide_output(
    servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    url = servers[GATEWAY_CLUSTER].url
    narrow = kubectl(url, tmp_path, "get", "gc")
    wide = kubectl(url, tmp_path, "get", "gc", "-o", "wide")
    assert narrow.returncode == wide.returncode == 0, narrow.stderr + wide.stderr
    assert header(narrow.stdout) == ["NAME", "CONTROLLER", "ACCEPTED", "AGE"]
    assert header(wide.stdout)[-1] == "DESCRIPTION"
    assert "alb.networking.azure.io/alb-controller" in narrow.stdout


def test_node_network_configs_print_as_kubectl_prints_them_on_aks(
    servers: dict[str, KubeApiServer], tmp_path: Path, shared_fixtures: Path
) -> None:
    """Headers of `kubectl get nnc` published in Azure/azure-container-networking#1908:
    the CRD's columns and no AGE, which the API server adds only to CRDs without columns."""
    published = shared_fixtures / "k8s" / "cni" / "acn-pr1908_kubectl-get-nnc.txt"
    url = servers[GATEWAY_CLUSTER].url
    narrow = kubectl(url, tmp_path, "get", "nnc", "-n", "kube-system")
    wide = kubectl(url, tmp_path, "get", "nnc", "-n", "kube-system", "-o", "wide")
    assert narrow.returncode == wide.returncode == 0, narrow.stderr + wide.stderr
    expected = header(published.read_text(encoding="utf-8"))
    assert expected == ["NAME", "ALLOCATED IPS", "NC MODE", "NC VERSION"]
    assert header(narrow.stdout) == expected
    wide_header = header(wide.stdout)
    assert "AGE" not in wide_header
    for column in ("REQUESTED IPS", "SUBNET", "SUBNET CIDR", "NC ID", "NC TYPE"):
        assert column in wide_header
    first = narrow.stdout.splitlines()[1].split()
    assert first == ["aks-nodepool1-40915282-vmss000000", "256", "static", "0"]


def test_first_address_json_lists_and_categories_in_a_cluster_of_our_own(
    fleet: SampleFleet, tmp_path: Path
) -> None:
    cluster = tmp_path / "gateways"
    cluster.mkdir()
    shutil.copy(fleet.cluster(GATEWAY_CLUSTER).kube_dir / "crds.yaml", cluster / "crds.yaml")
    objects = [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "infra"},
            "spec": {"gatewayClassName": "azure-alb-external", "listeners": []},
            "status": {
                "addresses": [
                    {"type": "IPAddress", "value": "20.31.4.7"},
                    {"type": "Hostname", "value": "edge.example.com"},
                ],
                "conditions": [
                    {"type": "Accepted", "status": "True"},
                    {"type": "Programmed", "status": "True"},
                ],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": "infra"},
            "spec": {"hostnames": ["shop.example.com", "www.example.com"]},
        },
    ]
    (cluster / "gateways.yaml").write_text(yaml.safe_dump_all(objects))
    with KubeApiServer(cluster) as server:
        gateways = kubectl(server.url, tmp_path, "get", "gtw", "-n", "infra")
        routes = kubectl(server.url, tmp_path, "get", "httproutes", "-n", "infra")
        category = kubectl(server.url, tmp_path, "get", "gateway-api", "-A", "-o", "name")
    assert gateways.returncode == routes.returncode == category.returncode == 0, (
        gateways.stderr + routes.stderr + category.stderr
    )
    # The API server keeps the first value a column's JSONPath selects.
    assert gateways.stdout.splitlines()[1].split()[:4] == [
        "edge",
        "azure-alb-external",
        "20.31.4.7",
        "True",
    ]
    assert routes.stdout.splitlines()[1].split()[:2] == [
        "shop",
        '["shop.example.com","www.example.com"]',
    ]
    assert sorted(category.stdout.split()) == [
        "gateway.gateway.networking.k8s.io/edge",
        "httproute.gateway.networking.k8s.io/shop",
    ]


def selected_pods(server: KubeApiServer, service: dict[str, Any]) -> set[str]:
    pods = server.store.objects(server.store.catalogue.by_kind("", "Pod"))
    selector = service["spec"]["selector"]
    return {
        p["status"]["podIP"]
        for p in pods
        if p["metadata"]["namespace"] == service["metadata"]["namespace"]
        and p["status"].get("podIP")
        and p["status"].get("phase") not in ("Succeeded", "Failed")
        and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
    }


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_service_with_a_selector_has_endpoint_slices_of_its_pods(
    cluster: str, servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    server = servers[cluster]
    listed = kubectl(server.url, tmp_path, "get", "endpointslices", "-A")
    as_json = kubectl(
        server.url, tmp_path, "get", "endpointslices.discovery.k8s.io", "-A", "-o", "json"
    )
    assert listed.returncode == as_json.returncode == 0, listed.stderr + as_json.stderr
    assert header(listed.stdout) == [
        "NAMESPACE",
        "NAME",
        "ADDRESSTYPE",
        "PORTS",
        "ENDPOINTS",
        "AGE",
    ]
    slices = json.loads(as_json.stdout)["items"]
    services = [
        s
        for s in server.store.objects(server.store.catalogue.by_kind("", "Service"))
        if s["spec"].get("selector")
    ]
    assert services
    for service in services:
        metadata = service["metadata"]
        own = [
            s
            for s in slices
            if s["metadata"]["namespace"] == metadata["namespace"]
            and s["metadata"]["labels"]["kubernetes.io/service-name"] == metadata["name"]
        ]
        assert own, f"no EndpointSlice for {metadata['namespace']}/{metadata['name']}"
        for endpoint_slice in own:
            labels = endpoint_slice["metadata"]["labels"]
            assert labels["endpointslice.kubernetes.io/managed-by"] == (
                "endpointslice-controller.k8s.io"
            )
            assert endpoint_slice["metadata"]["ownerReferences"][0]["uid"] == metadata["uid"]
            assert endpoint_slice["metadata"]["name"] in listed.stdout
        addresses = {a for s in own for e in s.get("endpoints") or [] for a in e["addresses"]}
        assert addresses == selected_pods(server, service)


def test_endpoint_slices_are_selected_by_service_name(
    servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    result = kubectl(
        servers["aks-kubenet-weu"].url,
        tmp_path,
        "get",
        "endpointslices",
        "-n",
        "kube-system",
        "-l",
        "kubernetes.io/service-name=kube-dns",
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    (endpoint_slice,) = json.loads(result.stdout)["items"]
    assert sorted((p["name"], p["port"], p["protocol"]) for p in endpoint_slice["ports"]) == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
    ]
    assert all(e["targetRef"]["kind"] == "Pod" for e in endpoint_slice["endpoints"])


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


# (kubectl auth can-i arguments, the request it is about, whether the agent's roles allow
# it: None where the roles may change, the answer must then only agree with the request)
CAN_I = [
    (("list", "pods", "-A"), "/api/v1/pods", True),
    (("list", "nodes"), "/api/v1/nodes", True),
    (("list", "secrets", "-A"), "/api/v1/secrets", False),
    (
        ("list", "configmaps", "-n", "kube-system"),
        "/api/v1/namespaces/kube-system/configmaps",
        False,
    ),
    (
        ("get", "configmaps/coredns", "-n", "kube-system"),
        "/api/v1/namespaces/kube-system/configmaps/coredns",
        True,
    ),
    (
        ("get", "configmaps/coredns", "-n", "default"),
        "/api/v1/namespaces/default/configmaps/coredns",
        False,
    ),
    (("list", "endpointslices", "-A"), "/apis/discovery.k8s.io/v1/endpointslices", None),
    (
        ("get", "pods", "--subresource=log", "-n", "kube-system"),
        "/api/v1/namespaces/kube-system/pods/coredns-x/log",
        None,
    ),
    (("get", "/version"), "/version", True),
]


# The clusters' versions differ, so gcloud's kubectl dispatcher runs different kubectl
# versions: some post reviews as JSON, others as protobuf.
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_can_i_answers_from_the_policy_and_agrees_with_the_requests(
    cluster: str, fleet: SampleFleet, tmp_path: Path
) -> None:
    rbac = RbacPolicy.load(AGENT_ROLES)
    with KubeApiServer(fleet.cluster(cluster).kube_dir, rbac=rbac) as server:
        answers = [kubectl(server.url, tmp_path, "auth", "can-i", *args) for args, _, _ in CAN_I]
        statuses = [http_status(server.url + path) for _, path, _ in CAN_I]
        writes = kubectl(server.url, tmp_path, "auth", "can-i", "create", "pods", "-n", "shop")
        listing = kubectl(server.url, tmp_path, "auth", "can-i", "--list", "-n", "kube-system")
    for (args, path, expected), answer, status in zip(CAN_I, answers, statuses, strict=True):
        said = answer.stdout.strip()
        assert said in ("yes", "no") or said.startswith("no -"), (args, said, answer.stderr)
        yes = said == "yes"
        assert answer.returncode == (0 if yes else 1), args
        # Never disagree: "yes" exactly when the request itself is not refused with 403.
        assert (status != 403) is yes, (args, path, status)
        if expected is not None:
            assert yes is expected, args
    assert writes.stdout.strip().startswith("no") and writes.returncode == 1
    assert listing.returncode == 0, listing.stderr
    rows = {row[0]: row for row in table(listing.stdout)[1:] if row}
    assert "nodes" in rows and "[get list watch]" in rows["nodes"]
    assert "secrets" not in rows


def test_can_i_says_yes_without_a_policy_and_no_for_injected_403s(
    fleet: SampleFleet, servers: dict[str, KubeApiServer], tmp_path: Path
) -> None:
    open_server = servers["aks-cni-neu"]
    for args in (("list", "secrets", "-A"), ("create", "pods"), ("get", "/metrics")):
        answer = kubectl(open_server.url, tmp_path, "auth", "can-i", *args)
        assert (answer.stdout.strip(), answer.returncode) == ("yes", 0), (args, answer.stderr)
    faults = KubeFaults(forbidden=("nodes",))
    with KubeApiServer(fleet.cluster("aks-cni-neu").kube_dir, faults=faults) as server:
        nodes = kubectl(server.url, tmp_path, "auth", "can-i", "list", "nodes")
        pods = kubectl(server.url, tmp_path, "auth", "can-i", "list", "pods", "-A")
        status = http_status(server.url + "/api/v1/nodes")
    assert nodes.stdout.strip() == "no" and nodes.returncode == 1
    assert status == 403
    assert pods.stdout.strip() == "yes"


def test_reviews_cannot_be_read_only_created(servers: dict[str, KubeApiServer]) -> None:
    url = servers["aks-cni-neu"].url
    assert http_status(url + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") == 405
    request = urllib.request.Request(
        url + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        data=json.dumps({"spec": {}}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    with raised.value as error:
        assert error.code == 422
        assert json.loads(error.read())["reason"] == "Invalid"
