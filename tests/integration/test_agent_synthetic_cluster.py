"""``netaudit-agent snapshot`` against a generated 200-node cluster: the report holds every
node with its pods and NodeNetworkConfig, and the IP-allocation failures the cluster's
events record, counted from the objects the sandbox serves; the big lists are paged."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from netaudit.agent.gatherers.gatherer import Resource
from netaudit.agent.gatherers.ip_allocation import ip_marker
from netaudit.agent.gatherers.reads import ReadCache
from netaudit.agent.kube import Kube
from netaudit.sandbox.kube_objects import Object
from netaudit.sandbox.runner import kubeconfig
from netaudit.sandbox.synthetic_cluster import CLUSTER, Shape, SyntheticKubeApiServer
from netaudit.v1 import report_pb2

AGENT = Path(sys.executable).parent / "netaudit-agent"
SHAPE = Shape(nodes=200, pods=6_000, app_namespaces=20, deployments_per_namespace=10)
CLUSTER_ID = (
    "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-synthetic"
    f"/providers/Microsoft.ContainerService/managedClusters/{CLUSTER}"
)


@pytest.fixture(scope="module")
def server() -> Iterator[SyntheticKubeApiServer]:
    with SyntheticKubeApiServer(SHAPE) as running:
        yield running


@pytest.fixture(scope="module")
def report(
    server: SyntheticKubeApiServer, tmp_path_factory: pytest.TempPathFactory
) -> report_pb2.Report:
    folder = tmp_path_factory.mktemp("synthetic")
    config = folder / "kubeconfig.yaml"
    config.write_text(yaml.safe_dump(kubeconfig(CLUSTER, server.url)), encoding="utf-8")
    output = folder / "report.pb"
    result = subprocess.run(
        [
            str(AGENT),
            "snapshot",
            "-o",
            str(output),
            "--kubeconfig",
            str(config),
            "--cluster-id",
            CLUSTER_ID,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return report_pb2.Report.FromString(output.read_bytes())


def served(server: SyntheticKubeApiServer, plural: str, group: str = "") -> list[Object]:
    resource = server.store.catalogue.by_qualified_name(f"{plural}.{group}" if group else plural)
    assert resource is not None
    return list(server.store.objects(resource))


def test_every_node_is_reported_with_its_pods(
    server: SyntheticKubeApiServer, report: report_pb2.Report
) -> None:
    pods = [
        p for p in served(server, "pods") if p["status"]["phase"] not in ("Succeeded", "Failed")
    ]
    host = Counter(p["spec"]["nodeName"] for p in pods if p["spec"].get("hostNetwork"))
    pod_network = Counter(p["spec"]["nodeName"] for p in pods if not p["spec"].get("hostNetwork"))
    nodes = {n["metadata"]["name"] for n in served(server, "nodes")}
    assert {n.name for n in report.nodes} == nodes and len(nodes) == SHAPE.nodes + 3
    for node in report.nodes:
        assert (node.host_network_pods, node.pods_on_pod_network) == (
            host[node.name],
            pod_network[node.name],
        ), node.name
        assert node.ready and node.pod_cidrs and node.internal_ips and node.pool
    assert sum(host.values()) >= SHAPE.nodes * 6


def test_every_node_carries_its_node_network_config(
    server: SyntheticKubeApiServer, report: report_pb2.Report
) -> None:
    configs = {
        c["metadata"]["name"]: c for c in served(server, "nodenetworkconfigs", "acn.azure.com")
    }
    for node in report.nodes:
        expected = configs[node.name]["status"]
        assert node.HasField("node_network_config"), node.name
        assert node.node_network_config.assigned_ip_count == expected["assignedIPCount"]
        assert node.node_network_config.observed_at.seconds > 0


def test_ip_allocation_failures_are_counted_per_node_and_marker(
    server: SyntheticKubeApiServer, report: report_pb2.Report
) -> None:
    sandbox = [e for e in served(server, "events") if e["reason"] == "FailedCreatePodSandBox"]
    expected = Counter(
        (e["source"]["host"], ip_marker(e["message"])) for e in sandbox if ip_marker(e["message"])
    )
    evidence = report.ip_allocation
    assert evidence.sandbox_events_seen == len(sandbox) > len(expected) > 0
    assert {(f.node, f.marker): f.events for f in evidence.failures} == dict(expected)
    # the base fixture's own Pending pod (checkout, waiting for azure-cns on vmss000002)
    # has no IP-allocation event: only pods on nodes that failed allocation count
    failing_nodes = {node for node, _ in expected}
    pending = [
        p
        for p in served(server, "pods")
        if p["status"]["phase"] == "Pending" and p["spec"].get("nodeName") in failing_nodes
    ]
    assert sum(f.pods_total for f in evidence.failures) == len(pending)


def test_the_large_kinds_are_paged(
    server: SyntheticKubeApiServer, report: report_pb2.Report
) -> None:
    lists = [(r, q) for r, q in server.list_requests if r in ("pods", "events", "nodes")]
    assert {r for r, _ in lists} == {"pods", "events", "nodes"}
    assert all(q.get("limit") and q.get("resourceVersion") != "0" for _, q in lists)
    assert [g.reason for g in report.gaps if g.reason != "not_found"] == []


def test_lists_kept_for_a_report_shed_managed_fields(server: SyntheticKubeApiServer) -> None:
    configuration = k8s.Configuration()
    configuration.host = server.url
    pods = Resource("", "v1", "pods")
    with Kube(k8s.ApiClient(configuration)) as kube:
        kept = ReadCache(kube).list(pods, "kube-system", "k8s-app=azure-cns", False)
    assert len(kept) >= SHAPE.nodes
    generated = [p for p in served(server, "pods") if p["spec"]["nodeName"].startswith("aks-pool")]
    assert all("managedFields" in p["metadata"] for p in generated)
    assert not any("managedFields" in p["metadata"] for p in kept)
