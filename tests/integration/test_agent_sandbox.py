"""``build_report`` against the sandbox: each sample cluster's Kubernetes API
server (and the sandbox DNS server) on loopback, read through kubeconfig files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.agent.config import GatherSettings, load_settings
from netaudit.agent.gatherers import nodes
from netaudit.agent.gatherers.gatherer import Gatherer, Resource
from netaudit.agent.gatherers.reads import Reads
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, cluster_identity
from netaudit.sandbox.kube_api import KubeFaults
from netaudit.sandbox.runner import Sandbox, SandboxCluster, start_sandbox
from netaudit.v1 import report_pb2

GATEWAY_KINDS = (
    "gatewayclasses",
    "gateways",
    "httproutes",
    "grpcroutes",
    "tlsroutes",
    "tcproutes",
    "udproutes",
    "referencegrants",
)


def gather(cluster: SandboxCluster, dns_server: str, **kube_options: int) -> report_pb2.Report:
    settings = load_settings(
        {
            "cluster": {"id": cluster.arm_resource_id, "region": cluster.region},
            "dns": {"server": dns_server, "extra_probe_names": list(cluster.dns_probe_names)},
        }
    )
    with Kube.connect(cluster.kubeconfig, **kube_options) as kube:  # type: ignore[arg-type]
        return build_report(kube, cluster_identity(settings.cluster), settings)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def reports(sandbox: Sandbox) -> dict[str, report_pb2.Report]:
    return {c.name: gather(c, sandbox.dns_server) for c in sandbox.clusters}


def gaps(report: report_pb2.Report) -> set[tuple[str, str, str]]:
    return {(g.gatherer, g.resource.split("/")[0], g.reason) for g in report.gaps}


def test_every_report_carries_identity_and_version(
    sandbox: Sandbox, reports: dict[str, report_pb2.Report]
) -> None:
    for cluster in sandbox.clusters:
        report = reports[cluster.name]
        assert report.cluster.arm_resource_id == cluster.arm_resource_id
        assert report.cluster.name == cluster.name
        assert report.cluster.kubernetes_version.startswith("v1.")
        assert report.report_id and report.sequence == 1


def test_kubenet_cluster_has_pod_cidrs_and_no_node_network_configs(
    reports: dict[str, report_pb2.Report],
) -> None:
    report = reports["aks-kubenet-weu"]
    assert len(report.nodes) == 3
    assert all(node.pod_cidrs for node in report.nodes)
    assert not any(node.HasField("node_network_config") for node in report.nodes)
    assert ("nodes", "nodenetworkconfigs.acn.azure.com", "not_found") in gaps(report)
    (masq,) = report.cni.ip_masq_agent_configs
    assert list(masq.non_masquerade_cidrs) == ["10.244.0.0/16"]


def test_node_subnet_cluster_has_a_windows_pool_and_external_dns(
    reports: dict[str, report_pb2.Report],
) -> None:
    report = reports["aks-cni-neu"]
    pools = {node.pool for node in report.nodes}
    assert pools == {"nodepool1", "npwin"}
    assert {node.os for node in report.nodes if node.pool == "npwin"} == {"windows"}
    assert not any(node.pod_cidrs for node in report.nodes)
    (instance,) = report.external_dns.instances
    assert (instance.provider, instance.txt_owner_id) == ("azure", "payments")
    assert {r.hostname for r in report.external_dns.requested_names} >= {"pay.example.com"}


def test_overlay_cluster_has_overlay_labels_and_a_node_network_config_per_node(
    reports: dict[str, report_pb2.Report],
) -> None:
    report = reports["aks-overlay-priv-weu"]
    assert len(report.nodes) == 3
    for node in report.nodes:
        assert node.network_labels.get("kubernetes.azure.com/azure-cni-overlay") == "true" or (
            node.network_labels.get("kubernetes.azure.com/podnetwork-type") == "overlay"
        )
        assert node.HasField("node_network_config")
        (container,) = node.node_network_config.network_containers
        assert container.type == "overlay"
    assert report.cni.cns_config.channel_mode == "CRD"
    assert "nodenetworkconfigs.acn.azure.com" in report.cni.crds


def test_overlay_cluster_coredns_override_and_reload_errors(
    reports: dict[str, report_pb2.Report],
) -> None:
    coredns = reports["aks-overlay-priv-weu"].coredns
    assert coredns.custom_present
    keys = [fragment.key for fragment in coredns.custom]
    assert any(key.endswith(".override") for key in keys)
    assert coredns.corefile
    assert coredns.reload_errors
    assert all("failed" in line for line in coredns.reload_errors)


def test_overlay_cluster_gateway_is_not_programmed(reports: dict[str, report_pb2.Report]) -> None:
    report = reports["aks-overlay-priv-weu"]
    (gateway,) = report.gateway_api.gateways
    programmed = {c.type: c for c in gateway.conditions}["Programmed"]
    assert (programmed.status, programmed.reason) == ("False", "AddressNotAssigned")
    (gateway_class,) = report.gateway_api.gateway_classes
    assert gateway_class.controller_name == "alb.networking.azure.io/alb-controller"
    assert report.agc.application_load_balancers
    assert report.agc.controller_version


def test_absent_crds_are_gaps_not_empty_lists(reports: dict[str, report_pb2.Report]) -> None:
    kubenet = gaps(reports["aks-kubenet-weu"])
    for kind in GATEWAY_KINDS:
        assert ("gateway_api", f"{kind}.gateway.networking.k8s.io", "not_found") in kubenet
    assert ("agc", "applicationloadbalancers.alb.networking.azure.io", "not_found") in kubenet
    overlay = gaps(reports["aks-overlay-priv-weu"])
    assert ("gateway_api", "gateways.gateway.networking.k8s.io", "not_found") not in overlay
    assert all(reason == "not_found" for _, _, reason in overlay | kubenet)


def test_dns_probes_reach_the_sandbox_dns_server(
    sandbox: Sandbox, reports: dict[str, report_pb2.Report]
) -> None:
    cluster = sandbox.cluster("aks-overlay-priv-weu")
    probes = {p.name: p for p in reports[cluster.name].coredns.probes}
    assert set(probes) == set(cluster.dns_probe_names)
    assert all(p.rcode == "NOERROR" and p.answers for p in probes.values())
    assert all(p.server == sandbox.dns_server for p in probes.values())


def test_forbidden_kinds_are_reported_not_raised(tmp_path: Path) -> None:
    faults = {"aks-kubenet-weu": KubeFaults(forbidden=("nodes", "configmaps"))}
    with start_sandbox(tmp_path, kube_faults=faults) as running:
        report = gather(running.cluster("aks-kubenet-weu"), running.dns_server)
    found = gaps(report)
    assert ("nodes", "nodes", "forbidden") in found
    assert ("coredns", "configmaps", "forbidden") in found
    assert len(report.nodes) == 0
    assert report.services.services_total > 0  # the other gatherers still ran
    assert report.cni.workloads
    forbidden = next(g for g in report.gaps if g.reason == "forbidden")
    assert "forbidden" in forbidden.message


def test_throttling_and_expired_continue_tokens(tmp_path: Path) -> None:
    faults = {
        "aks-cni-neu": KubeFaults(
            expiring_continue=("pods",), too_many_requests=2, retry_after_seconds=0
        )
    }
    with start_sandbox(tmp_path, kube_faults=faults) as running:
        report = gather(running.cluster("aks-cni-neu"), running.dns_server, page_size=5)
    # 429s were retried; the pod list kept expiring, so pod counts are a gap, not zeros.
    assert report.cluster.kubernetes_version
    assert ("nodes", "pods", "expired") in gaps(report)
    assert not any(g.reason == "error" for g in report.gaps if g.resource.startswith("pods"))
    assert len(report.nodes) == 8


def test_a_list_that_expires_once_is_restarted_and_complete(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    name = "aks-cni-neu"
    expected = gather(sandbox.cluster(name), sandbox.dns_server, page_size=5)
    faults = {name: KubeFaults(continue_expiries={"pods": 1, "nodes": 1})}
    with start_sandbox(tmp_path, kube_faults=faults) as running:
        report = gather(running.cluster(name), running.dns_server, page_size=5)
    assert not [g for g in report.gaps if g.resource.startswith(("pods", "nodes"))]
    assert [n.name for n in report.nodes] == [n.name for n in expected.nodes]
    assert [n.pods_on_pod_network for n in report.nodes] == [
        n.pods_on_pod_network for n in expected.nodes
    ]
    assert sum(n.pods_on_pod_network for n in report.nodes) > 5  # more than one page


def _broken(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    raise KeyError("spec")


def _undeclared(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    reads.list(Resource("", "v1", "secrets"))


def test_a_failing_gatherer_becomes_a_gap_and_the_others_still_run(sandbox: Sandbox) -> None:
    cluster = sandbox.cluster("aks-kubenet-weu")
    settings = load_settings({"cluster": {"id": cluster.arm_resource_id}})
    broken = Gatherer("broken", (), _broken)
    undeclared = Gatherer("sneaky", (), _undeclared)
    with Kube.connect(cluster.kubeconfig) as kube:
        report = build_report(
            kube,
            cluster_identity(settings.cluster),
            settings,
            gatherers=(broken, undeclared, nodes.GATHERER),
        )
    by_gatherer = {g.gatherer: g for g in report.gaps}
    assert by_gatherer["broken"].reason == "error"
    assert "KeyError" in by_gatherer["broken"].message
    assert "without declaring it" in by_gatherer["sneaky"].message
    assert len(report.nodes) == 3


def test_crds_that_are_not_installed_are_gaps_not_log_lines(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="netaudit.agent"):
        report = gather(sandbox.cluster("aks-kubenet-weu"), sandbox.dns_server)
    not_served = [g for g in report.gaps if g.reason == "not_found"]
    assert len(not_served) >= 5, "a kubenet cluster serves no Gateway API, NNC or ALB kinds"
    assert [r.getMessage() for r in caplog.records if "CRD not installed" in r.getMessage()] == []
