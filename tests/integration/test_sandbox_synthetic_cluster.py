"""The generated large cluster, over HTTP as clients see it: deterministic objects, complete
and disjoint pages, continue tokens, the watch cache answering ``resourceVersion=0``
whole, selectors answered from the index exactly as filtering would, and a page's cost
independent of where in the list it starts."""

from __future__ import annotations

import base64
import json
import statistics
import time
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netaudit.sandbox.kube_objects import KubeObjectStore, object_key
from netaudit.sandbox.kube_selectors import field_matcher, label_matcher
from netaudit.sandbox.synthetic_cluster import (
    BASE_FIXTURES,
    IP_FAILURE_EVERY,
    Shape,
    SyntheticKubeApiServer,
    SyntheticStore,
)

SMALL = Shape(nodes=60, pods=3_000, app_namespaces=10, deployments_per_namespace=5)
BASE = KubeObjectStore.load(BASE_FIXTURES)


def base_count(plural: str, group: str = "") -> int:
    """Objects of a kind in the base fixtures, served alongside the generated ones."""
    resource = BASE.catalogue.by_qualified_name(f"{plural}.{group}" if group else plural)
    assert resource is not None
    return len(BASE.objects(resource))


@pytest.fixture(scope="module")
def server() -> Iterator[SyntheticKubeApiServer]:
    with SyntheticKubeApiServer(SMALL) as running:
        yield running


def get(server: SyntheticKubeApiServer, path: str, **query: str | int) -> dict[str, Any]:
    url = f"{server.url}{path}" + (f"?{urlencode(query)}" if query else "")
    with urlopen(url, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def pages(
    server: SyntheticKubeApiServer, path: str, **query: str | int
) -> Iterator[dict[str, Any]]:
    token = ""
    while True:
        page = get(server, path, **query, **({"continue": token} if token else {}))
        yield page
        token = page["metadata"].get("continue", "")
        if not token:
            return


def names(items: list[dict[str, Any]]) -> list[str]:
    return [f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}" for i in items]


def test_objects_are_the_same_in_every_store_built_from_the_same_shape(
    server: SyntheticKubeApiServer,
) -> None:
    again = SyntheticStore(SMALL)
    catalogue = again.catalogue
    for plural in ("nodes", "pods", "events"):
        resource = catalogue.lookup("", "v1", plural)
        assert resource is not None
        ours, theirs = server.store.objects(resource), again.objects(resource)
        assert len(ours) == len(theirs) > 0
        for position in (0, len(ours) // 3, len(ours) - 1):
            assert ours[position] == theirs[position]


@pytest.mark.parametrize(
    ("path", "expected", "limit"),
    [
        ("/api/v1/nodes", SMALL.nodes + base_count("nodes"), 17),
        ("/api/v1/pods", SMALL.pods + base_count("pods"), 170),
        (
            "/apis/acn.azure.com/v1alpha/namespaces/kube-system/nodenetworkconfigs",
            SMALL.nodes + base_count("nodenetworkconfigs", "acn.azure.com"),
            17,
        ),
    ],
)
def test_pages_are_complete_disjoint_and_sorted(
    server: SyntheticKubeApiServer, path: str, expected: int, limit: int
) -> None:
    seen: list[str] = []
    remaining = []
    for page in pages(server, path, limit=limit):
        assert len(page["items"]) <= limit
        seen += names(page["items"])
        remaining.append(page["metadata"].get("remainingItemCount"))
    assert len(seen) == len(set(seen)) == expected
    assert seen == sorted(seen)
    assert remaining[-1] is None and remaining[0] == expected - limit


def test_a_list_item_is_the_object_a_get_returns(server: SyntheticKubeApiServer) -> None:
    page = get(server, "/api/v1/pods", limit=50)
    item = page["items"][-1]
    metadata = item["metadata"]
    single = get(server, f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}")
    assert single == {"apiVersion": "v1", "kind": "Pod", **item}
    assert 3_000 < len(json.dumps(item, separators=(",", ":"))) < 5_000


def test_resource_version_0_is_answered_from_the_cache_whole(
    server: SyntheticKubeApiServer,
) -> None:
    page = get(server, "/api/v1/pods", limit=10, resourceVersion=0)
    assert len(page["items"]) == SMALL.pods + base_count("pods")
    assert "continue" not in page["metadata"]


def test_a_continue_token_of_another_list_is_gone(server: SyntheticKubeApiServer) -> None:
    token = get(server, "/api/v1/nodes", limit=5)["metadata"]["continue"]
    with pytest.raises(HTTPError) as raised:
        get(server, "/api/v1/pods", limit=5, **{"continue": token})
    raised.value.close()
    assert raised.value.code == 410


@pytest.mark.parametrize(
    ("path", "selector"),
    [
        ("/api/v1/events", {"fieldSelector": "reason=FailedCreatePodSandBox"}),
        ("/api/v1/events", {"fieldSelector": "type!=Normal,involvedObject.kind=Pod"}),
        ("/api/v1/namespaces/kube-system/pods", {"labelSelector": "k8s-app=azure-cns"}),
        ("/api/v1/namespaces/kube-system/pods", {"labelSelector": "k8s-app=kube-dns"}),
        ("/api/v1/pods", {"fieldSelector": "status.phase=Pending"}),
        ("/api/v1/pods", {"labelSelector": "team in (team-001,team-004),app"}),
        # Labels that differ per object: the server filters every object instead.
        ("/api/v1/nodes", {"labelSelector": "topology.kubernetes.io/zone=westeurope-2"}),
        ("/api/v1/pods", {"fieldSelector": "spec.nodeName=aks-pool0-75369731-vmss000007"}),
    ],
)
def test_selectors_match_what_filtering_every_object_finds(
    server: SyntheticKubeApiServer, path: str, selector: dict[str, str]
) -> None:
    plural = path.rsplit("/", 1)[1]
    every = [item for page in pages(server, path, limit=500) for item in page["items"]]
    matches = [
        field_matcher(selector["fieldSelector"], plural)
        if "fieldSelector" in selector
        else label_matcher(selector["labelSelector"])
    ]
    expected = names([item for item in every if all(m(item) for m in matches)])
    selected = [
        item for page in pages(server, path, limit=40, **selector) for item in page["items"]
    ]
    assert names(selected) == expected and expected


def test_pods_waiting_for_an_ip_have_their_events(server: SyntheticKubeApiServer) -> None:
    # generated pods only: the base fixtures' checkout pod waits for azure-cns, not an IP event
    pending = [
        pod
        for pod in get(server, "/api/v1/pods", fieldSelector="status.phase=Pending")["items"]
        if str(pod["spec"].get("nodeName", "")).startswith("aks-pool")
    ]
    events = get(server, "/api/v1/events", fieldSelector="reason=FailedCreatePodSandBox")["items"]
    about = {(e["involvedObject"]["namespace"], e["involvedObject"]["name"]) for e in events}
    assert pending and len(pending) <= SMALL.pods // IP_FAILURE_EVERY + 1
    for pod in pending:
        assert (pod["metadata"]["namespace"], pod["metadata"]["name"]) in about
        assert "podIP" not in pod["status"]
    assert any("cni plugin not initialized" in e["message"] for e in events)
    assert {e["source"]["host"] for e in events} <= {
        n["metadata"]["name"] for n in get(server, "/api/v1/nodes")["items"]
    }


def test_a_page_costs_the_same_at_the_end_of_a_50000_pod_list() -> None:
    """The last page of 50,000 pods is found by bisection, not by looking at the 49,500
    before it. Its continue token is the first page's, moved (in the API server's own
    format) to start 500 objects before the end."""
    with SyntheticKubeApiServer(Shape(nodes=400, pods=50_000)) as large:
        first_times, last_times = [], []
        first = get(large, "/api/v1/pods", limit=500)
        token = json.loads(base64.urlsafe_b64decode(first["metadata"]["continue"] + "=="))
        pods = large.store.catalogue.lookup("", "v1", "pods")
        assert pods is not None and token["start"] == object_key(first["items"][-1])
        token["start"] = object_key(large.store.objects(pods)[-501])
        moved = base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")
        for _ in range(5):
            started = time.perf_counter()
            get(large, "/api/v1/pods", limit=500)
            first_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            last = get(large, "/api/v1/pods", limit=500, **{"continue": moved})
            last_times.append(time.perf_counter() - started)
    assert len(last["items"]) == 500 and "continue" not in last["metadata"]
    first_page, last_page = statistics.median(first_times), statistics.median(last_times)
    assert last_page < 3 * first_page, (first_page, last_page)


def test_azure_cns_serves_its_node_pool_metrics(server: SyntheticKubeApiServer) -> None:
    every = [item for page in pages(server, "/api/v1/pods", limit=500) for item in page["items"]]
    cns = get(server, "/api/v1/namespaces/kube-system/pods", labelSelector="k8s-app=azure-cns")
    generated = [p for p in cns["items"] if p["spec"]["nodeName"].startswith("aks-pool")]
    assert len(generated) == SMALL.nodes
    for pod in generated[:5]:
        node = pod["spec"]["nodeName"]
        holding = [
            p
            for p in every
            if p["spec"]["nodeName"] == node
            and not p["spec"]["hostNetwork"]
            and p["status"]["phase"] == "Running"
        ]
        path = f"/api/v1/namespaces/kube-system/pods/{pod['metadata']['name']}:10092/proxy/metrics"
        with urlopen(f"{server.url}{path}", timeout=30) as response:
            text = response.read().decode()
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples["cx_ipam_pod_allocated_ips"] == len(holding) > 0
        assert samples["cx_ipam_available_ips"] == samples["cx_ipam_total_ips"] - len(holding)
