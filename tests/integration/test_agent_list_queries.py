"""How the agent lists: every query a whole report sends, as the sandbox API server records it.

A list with ``resourceVersion=0`` is served from the API server's watch cache,
which ignores ``limit``: at 150,000 pods that is one answer of hundreds of
megabytes, in the API server and in the agent. The large kinds must be paged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from netaudit.agent.config import load_settings
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, cluster_identity
from netaudit.sandbox.kube_api import KubeApiServer
from netaudit.sandbox.sample_fleet import load_sample_fleet

PAGE_SIZE = 5
LARGE_KINDS = ("pods", "events", "nodes")


@pytest.fixture(scope="module")
def list_requests() -> Iterator[list[tuple[str, dict[str, str]]]]:
    """Every list request of one report of the CNI cluster (the one with the most pods)."""
    cluster = load_sample_fleet().cluster("aks-cni-neu")
    settings = load_settings({"cluster": {"id": cluster.arm_resource_id}})
    with KubeApiServer(cluster.kube_dir) as server:
        configuration = k8s.Configuration()
        configuration.host = server.url
        with Kube(k8s.ApiClient(configuration), page_size=PAGE_SIZE) as kube:
            build_report(kube, cluster_identity(settings.cluster), settings)
        yield list(server.list_requests)


@pytest.mark.parametrize("kind", LARGE_KINDS)
def test_large_kinds_are_listed_in_pages_never_from_the_watch_cache(
    list_requests: list[tuple[str, dict[str, str]]], kind: str
) -> None:
    queries = [query for resource, query in list_requests if resource == kind]
    assert queries, f"the report does not list {kind}"
    assert all(query.get("resourceVersion") != "0" for query in queries), queries
    assert all(query.get("limit") == str(PAGE_SIZE) for query in queries), queries


def test_pods_take_more_than_one_page(list_requests: list[tuple[str, dict[str, str]]]) -> None:
    # The limits above only mean something if the pod list was really paged.
    continued = [q for resource, q in list_requests if resource == "pods" and "continue" in q]
    assert continued
