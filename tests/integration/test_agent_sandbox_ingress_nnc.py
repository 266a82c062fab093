"""ingress-nginx controllers in any namespace (ING-002), gathered from the sandbox's sample
clusters over HTTP under the agent's own RBAC, field by field, and judged by the rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.collector.inventory import convert
from netaudit.collector.rules import (
    RULES_BY_ID,
    Outcome,
    RuleOutcome,
    RuleSettings,
    evaluate_cluster,
)
from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.sandbox.sample_fleet import load_sample_fleet
from netaudit.v1 import report_pb2
from tests.integration.test_agent_sandbox import gather
from tests.integration.test_agent_sandbox_evidence import RBAC_FILE, without
from tests.rule_cases import facts_of

KUBENET, CNI, OVERLAY = "aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), rbac=RbacPolicy.load(RBAC_FILE)) as sb:
        yield sb


@pytest.fixture(scope="module")
def reports(sandbox: Sandbox) -> dict[str, report_pb2.Report]:
    return {c.name: gather(c, sandbox.dns_server, page_size=2) for c in sandbox.clusters}


def verdict(report: report_pb2.Report, cluster: str, rule: str) -> RuleOutcome:
    fleet = load_sample_fleet()
    body = fleet.arm.get(fleet.cluster(cluster).arm_resource_id)
    assert body is not None
    facts = facts_of(convert.cluster_inventory(body), report)
    (outcome,) = evaluate_cluster(facts, RuleSettings(), [RULES_BY_ID[rule]]).outcomes
    return outcome


def test_the_controller_outside_kube_system_is_reported_field_by_field(
    reports: dict[str, report_pb2.Report],
) -> None:
    report = reports[CNI]
    assert [g for g in report.gaps if g.gatherer == "ingress_nginx"] == []
    (controller,) = report.ingress.nginx_controllers
    assert controller.kind == "Deployment"
    assert controller.namespace == "ingress-nginx"
    assert controller.name == "ingress-nginx-controller"
    assert controller.image == "registry.k8s.io/ingress-nginx/controller:v1.11.3"
    assert controller.version == "v1.11.3"
    assert list(controller.matched_by) == ["image", "labels"]
    assert controller.desired_replicas == 2
    assert controller.ready_replicas == 2
    # the cni gatherer keeps the add-on namespaces only: it never saw this controller
    assert not [w for w in report.cni.workloads if w.namespace == "ingress-nginx"]


@pytest.mark.parametrize("cluster", [KUBENET, OVERLAY])
def test_clusters_without_nginx_report_no_controller(
    reports: dict[str, report_pb2.Report], cluster: str
) -> None:
    assert list(reports[cluster].ingress.nginx_controllers) == []
    assert verdict(reports[cluster], cluster, "ING-002").outcome is Outcome.PASSED


def test_ing_002_names_the_controller_and_its_version(
    reports: dict[str, report_pb2.Report],
) -> None:
    result = verdict(reports[CNI], CNI, "ING-002")
    (finding,) = result.findings
    assert (
        finding.evidence["workloads"] == "Deployment ingress-nginx/ingress-nginx-controller v1.11.3"
    )
    assert "controller Deployment ingress-nginx/ingress-nginx-controller v1.11.3" in finding.message


def test_without_deployments_the_controllers_are_a_forbidden_gap(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, rbac=without("deployments", "ClusterRole")) as running:
        report = gather(running.cluster(KUBENET), running.dns_server)
    forbidden = [g for g in report.gaps if (g.gatherer, g.reason) == ("ingress_nginx", "forbidden")]
    assert [g.resource for g in forbidden] == ["deployments.apps/v1"]
    assert verdict(report, KUBENET, "ING-002").outcome is Outcome.NOT_ASSESSED


def test_node_network_configs_carry_counts_and_when_they_were_observed(
    reports: dict[str, report_pb2.Report],
) -> None:
    report = reports[OVERLAY]
    configs = {n.name: n.node_network_config for n in report.nodes}
    assert len(configs) == 3
    gathered = report.gathered_at.ToDatetime()
    for name, nnc in configs.items():
        assert (nnc.requested_ip_count, nnc.assigned_ip_count) == (0, 256), name
        assert nnc.HasField("observed_at"), name
        # read during the gather, before the report was stamped
        assert abs((gathered - nnc.observed_at.ToDatetime()).total_seconds()) < 60, name
        # the sample NNCs' status has no conditions: no transition time is invented
        assert not nnc.HasField("status_last_transition_time"), name
    assert verdict(report, OVERLAY, "CNI-007").outcome is Outcome.PASSED
