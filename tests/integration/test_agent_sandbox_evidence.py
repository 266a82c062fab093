"""The evidence of NPL-006/007, DNS-009, IPX-002, IPX-004 and CNI-006/007's azure-cns half
gathered from the sandbox's sample clusters over HTTP (pagination, field selectors, the pod
proxy, RBAC), field by field, and judged by the rules it feeds."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from netaudit.agent.config import load_settings
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, cluster_identity
from netaudit.collector.inventory import convert
from netaudit.collector.rules import RULES_BY_ID, Outcome, RuleSettings, evaluate_cluster
from netaudit.sandbox.kube_api import KubeApiServer, KubeFaults
from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT, SampleFleet, load_sample_fleet
from netaudit.v1 import report_pb2
from tests.conftest import REPO, require
from tests.integration.test_agent_sandbox import gather
from tests.rule_cases import facts_of

KUBENET, CNI, OVERLAY = "aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"
RBAC_FILE = REPO / "deploy" / "rbac" / "agent-clusterrole.yaml"
NEW_RULES = ("NPL-006", "NPL-007", "DNS-009", "IPX-002")
COREDNS_PODS = {
    KUBENET: {"coredns-fdflqpv9b6-qdrw7": 3_216_121, "coredns-fdflqpv9b6-b4ss2": 2_990_992},
    CNI: {"coredns-cjjcckbjj9-f8rpq": 6_753_853, "coredns-cjjcckbjj9-kr4fx": 6_335_760},
    OVERLAY: {"coredns-jfbrr8zs5q-jqhlj": 4_534_732, "coredns-jfbrr8zs5q-d5vr8": 4_888_504},
}
"""Each sample CoreDNS pod and the requests its hand-made exposition counts."""
CNS_RULES = ("IPX-004", "CNI-006", "CNI-007")
OVERLAY_NODE = "aks-nodepool1-40915282-vmss{:06d}"
OVERLAY_SUBNET = "routingdomain_8b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e_overlaysubnet"
CNS_PODS = {0: "azure-cns-85rnv", 1: "azure-cns-zgrkr", 2: "azure-cns-n4d75"}
"""The overlay cluster's azure-cns pod on each node (the only sample cluster running it)."""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # The agent's own ClusterRole enforced: every read below must be granted by it.
    rbac = RbacPolicy.load(RBAC_FILE)
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), rbac=rbac) as running:
        yield running


@pytest.fixture(scope="module")
def reports(sandbox: Sandbox) -> dict[str, report_pb2.Report]:
    return {c.name: gather(c, sandbox.dns_server, page_size=1) for c in sandbox.clusters}


def new_gaps(report: report_pb2.Report) -> list[report_pb2.Gap]:
    return [
        g for g in report.gaps
        if g.gatherer in ("network_policies", "ip_allocation", "azure_cns_metrics")
        or g.resource.startswith("pods/proxy")
    ]  # fmt: skip


def verdicts(
    report: report_pb2.Report, cluster: str, rules: tuple[str, ...] = (*NEW_RULES, *CNS_RULES)
) -> dict[str, Outcome]:
    fleet = load_sample_fleet()
    body = fleet.arm.get(fleet.cluster(cluster).arm_resource_id)
    assert body is not None
    facts = facts_of(convert.cluster_inventory(body), report)
    evaluation = evaluate_cluster(facts, RuleSettings(), [RULES_BY_ID[r] for r in rules])
    return {o.rule_id: o.outcome for o in evaluation.outcomes}


def test_the_agents_clusterrole_grants_every_new_read(
    reports: dict[str, report_pb2.Report],
) -> None:
    for name, report in reports.items():
        assert new_gaps(report) == [], name
        assert not [g for g in report.gaps if g.reason == "forbidden"], name


def test_overlay_policies_are_summarised_field_by_field(
    reports: dict[str, report_pb2.Report],
) -> None:
    shop = {p.namespace: p for p in reports[OVERLAY].network_policies}["shop"]
    assert shop.network_policies == 3
    policies = {p.name: p for p in shop.policies}
    assert sorted(policies) == ["allow-dns-egress", "checkout-from-vnet", "default-deny-egress"]
    deny = policies["default-deny-egress"]
    assert (list(deny.policy_types), deny.selects_all_pods, deny.egress_rules) == (
        ["Egress"], True, 0
    )  # fmt: skip
    assert not deny.egress_allows_local_dns_udp and not deny.egress_allows_local_dns_tcp
    dns = policies["allow-dns-egress"]
    assert dns.selects_all_pods and dns.egress_rules == 1
    assert [(b.cidr, list(b.excepts)) for b in dns.egress_ip_blocks] == [("169.254.10.0/24", [])]
    assert list(dns.egress_ports) == ["UDP/53", "TCP/53"]
    assert dns.egress_allows_local_dns_udp and dns.egress_allows_local_dns_tcp
    checkout = policies["checkout-from-vnet"]
    assert (list(checkout.policy_types), checkout.selects_all_pods) == (["Ingress"], False)
    assert [(b.cidr, list(b.excepts)) for b in checkout.ingress_ip_blocks] == [
        ("10.30.0.0/16", ["10.30.1.0/24"])
    ]
    assert not checkout.egress_ip_blocks and checkout.egress_rules == 0


def test_ingress_only_policies_are_counted_without_a_summary(
    reports: dict[str, report_pb2.Report],
) -> None:
    web = {p.namespace: p for p in reports[KUBENET].network_policies}["web"]
    assert (web.network_policies, list(web.policies)) == (1, [])


def test_coredns_metrics_come_through_the_pod_proxy(
    reports: dict[str, report_pb2.Report],
) -> None:
    for cluster, pods in COREDNS_PODS.items():
        metrics = {m.pod: m for m in reports[cluster].coredns.metrics}
        assert {p: m.requests_total for p, m in metrics.items()} == pods, cluster
        for pod in metrics.values():
            assert pod.node.startswith("aks-nodepool1-")
            assert pod.version == ("1.11.3" if cluster == KUBENET else "1.9.4")
            assert pod.counting_since.ToJsonString() == "2026-11-20T06:12:31.870Z"
            assert pod.HasField("scraped_at")
            assert sum(pod.responses_by_rcode.values()) == pod.requests_total
            assert 0 < pod.responses_by_rcode["SERVFAIL"] < pod.requests_total * 0.001
            assert dict(pod.healthcheck_failures_by_upstream) == {}
            assert pod.healthcheck_broken_total == 0
            assert len(pod.request_duration_buckets) == 17
            assert math.isinf(pod.request_duration_buckets[-1].upper_bound)
            assert pod.request_duration_buckets[-1].cumulative_count == pod.request_duration_count
            assert pod.request_duration_sum_seconds > 0


def test_sandbox_ip_failures_are_aggregated_from_paginated_filtered_events(
    reports: dict[str, report_pb2.Report],
) -> None:
    evidence = reports[KUBENET].ip_allocation
    # The field selector keeps the Scheduled event out; the other failure is not about IPs.
    assert evidence.sandbox_events_seen == 2
    (failure,) = evidence.failures
    assert (failure.node, failure.marker) == (
        "aks-nodepool1-31718369-vmss000001", "failed to allocate for range"
    )  # fmt: skip
    assert (failure.events, failure.occurrences, failure.pods_total) == (1, 4, 1)
    assert list(failure.pods) == ["web/web-frontend-8ws4w8dmjc-8ng2v"]
    assert failure.first_seen.ToJsonString() == "2026-11-20T06:12:33Z"
    assert failure.last_seen.ToJsonString() == "2026-11-20T06:14:02Z"
    assert failure.message.endswith("in range set: 10.244.1.1-10.244.1.254")
    for cluster in (CNI, OVERLAY):
        assert reports[cluster].HasField("ip_allocation")
        assert reports[cluster].ip_allocation.sandbox_events_seen == 0


@pytest.mark.parametrize("cluster", [KUBENET, CNI, OVERLAY])
def test_the_new_rules_are_assessed_on_the_sample_fleet(
    reports: dict[str, report_pb2.Report], cluster: str
) -> None:
    # No sample cluster runs Cilium, the CoreDNS pods are healthy, and the kubenet
    # cluster's IP failure is a week old: every rule passes, none is "not assessed".
    assert verdicts(reports[cluster], cluster, NEW_RULES) == dict.fromkeys(
        NEW_RULES, Outcome.PASSED
    )


def test_azure_cns_pools_come_through_the_pod_proxy_one_per_node(
    reports: dict[str, report_pb2.Report],
) -> None:
    metrics = {m.node: m for m in reports[OVERLAY].cni.cns_metrics}
    assert sorted(metrics) == [OVERLAY_NODE.format(i) for i in range(3)]
    # node index -> (available, requested, total, allocated to pods, exhaustion state)
    expected = {0: (246, 0, 256, 10, 0), 1: (250, 0, 256, 6, 0), 2: (0, 0, 256, 256, 1)}
    for index, (available, requested, total, allocated, exhausted) in expected.items():
        pool = metrics[OVERLAY_NODE.format(index)]
        assert pool.pod == CNS_PODS[index]
        assert pool.HasField("scraped_at")
        for name, value in (
            ("available_ips", available), ("requested_ips", requested),
            ("total_ips", total), ("pod_allocated_ips", allocated),
        ):  # fmt: skip
            assert pool.HasField(name) and getattr(pool, name) == value, (index, name)
        states = [
            (s.subnet, s.subnet_cidr, s.podnet_arm_id, s.exhaustion_state) for s in pool.subnets
        ]
        assert states == [(OVERLAY_SUBNET, "10.244.0.0/16", "", exhausted)]
    for cluster in (KUBENET, CNI):
        assert list(reports[cluster].cni.cns_metrics) == [], cluster


def test_pending_pods_are_counted_on_the_node_they_wait_on(
    reports: dict[str, report_pb2.Report],
) -> None:
    pending = {n.name: n.pending_pods_on_pod_network for n in reports[OVERLAY].nodes}
    assert pending == {OVERLAY_NODE.format(0): 0, OVERLAY_NODE.format(1): 0,
                       OVERLAY_NODE.format(2): 1}  # fmt: skip
    for cluster in (KUBENET, CNI):
        assert {n.pending_pods_on_pod_network for n in reports[cluster].nodes} == {0}, cluster


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        # no azure-cns on the kubenet and node-subnet clusters: nothing to judge, passed
        (KUBENET, dict.fromkeys(CNS_RULES, Outcome.PASSED)),
        (CNI, dict.fromkeys(CNS_RULES, Outcome.PASSED)),
        # vmss000002's pool is empty with checkout's third pod Pending on it, and its azure-cns
        # sees the subnet exhausted; every NodeNetworkConfig request is met
        (OVERLAY, {"IPX-004": Outcome.FINDINGS, "CNI-006": Outcome.FINDINGS,
                   "CNI-007": Outcome.PASSED}),
    ],
)  # fmt: skip
def test_the_azure_cns_rules_are_assessed_on_the_sample_fleet(
    reports: dict[str, report_pb2.Report], cluster: str, expected: dict[str, Outcome]
) -> None:
    assert verdicts(reports[cluster], cluster, CNS_RULES) == expected


def without(resource: str, role: str) -> RbacPolicy:
    """The agent's RBAC less ``resource`` in the ClusterRole or Role ``role``."""
    documents = [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d]
    for document in documents:
        if document["kind"] == role:
            for rule in document.get("rules", []):
                if "resources" in rule:
                    rule["resources"] = [r for r in rule["resources"] if r != resource]
    return RbacPolicy.from_objects(documents)


@pytest.mark.parametrize(
    ("resource", "role", "gap", "rule"),
    [
        ("events", "ClusterRole", ("ip_allocation", "events/v1"), "IPX-002"),
        ("pods/proxy", "Role", ("coredns", "pods/proxy kube-system/coredns-"), "DNS-009"),
        ("networkpolicies", "ClusterRole", ("network_policies", "networkpolicies."), "NPL-007"),
    ],
)
def test_a_removed_grant_is_a_forbidden_gap_and_its_rule_is_not_assessed(
    tmp_path: Path, resource: str, role: str, gap: tuple[str, str], rule: str
) -> None:
    with start_sandbox(tmp_path, rbac=without(resource, role)) as running:
        report = gather(running.cluster(KUBENET), running.dns_server)
    forbidden = [
        g for g in report.gaps
        if (g.gatherer, g.reason) == (gap[0], "forbidden") and g.resource.startswith(gap[1])
    ]  # fmt: skip
    assert forbidden, [(g.gatherer, g.resource, g.reason) for g in report.gaps]
    assert verdicts(report, KUBENET)[rule] is Outcome.NOT_ASSESSED


def test_without_pods_proxy_the_azure_cns_pools_are_forbidden_gaps(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, rbac=without("pods/proxy", "Role")) as running:
        report = gather(running.cluster(OVERLAY), running.dns_server)
    forbidden = sorted(
        g.resource for g in report.gaps
        if (g.gatherer, g.reason) == ("azure_cns_metrics", "forbidden")
    )  # fmt: skip
    assert forbidden == [f"pods/proxy kube-system/{pod}:10092" for pod in sorted(CNS_PODS.values())]
    assert list(report.cni.cns_metrics) == []
    assert verdicts(report, OVERLAY, CNS_RULES) == dict.fromkeys(CNS_RULES, Outcome.NOT_ASSESSED)


def test_an_azure_cns_serving_nothing_is_a_gap_and_its_pending_node_is_not_judged(
    tmp_path: Path,
) -> None:
    root = tmp_path / "fleet"
    shutil.copytree(DEFAULT_FLEET_ROOT, root)
    shutil.rmtree(root / "kube" / OVERLAY / "proxy" / "kube-system" / CNS_PODS[2])
    with start_sandbox(tmp_path / "run", fleet=load_sample_fleet(root)) as running:
        report = gather(running.cluster(OVERLAY), running.dns_server)
    (gap,) = [g for g in report.gaps if g.gatherer == "azure_cns_metrics"]
    assert (gap.resource, gap.reason) == (f"pods/proxy kube-system/{CNS_PODS[2]}:10092", "error")
    assert "connection refused" in gap.message
    assert sorted(m.pod for m in report.cni.cns_metrics) == sorted([CNS_PODS[0], CNS_PODS[1]])
    assert verdicts(report, OVERLAY, ("IPX-004",)) == {"IPX-004": Outcome.NOT_ASSESSED}


def test_a_hung_azure_cns_is_a_timeout_gap_after_the_metrics_timeout(tmp_path: Path) -> None:
    # vmss000002's azure-cns answers after 20 s: the 1 s metrics timeout (read again on each
    # of the client's 5 retries) gives up on it well before the API request timeout (30 s)
    # would, and the other nodes still count
    faults = {OVERLAY: KubeFaults(slow_pod_proxies={CNS_PODS[2]: 20})}
    with start_sandbox(tmp_path, kube_faults=faults) as running:
        cluster = running.cluster(OVERLAY)
        settings = load_settings(
            {
                "cluster": {"id": cluster.arm_resource_id, "region": cluster.region},
                "dns": {"server": running.dns_server},
                "gather": {"pod_metrics_timeout_seconds": 1},
            }
        )
        started = time.monotonic()
        with Kube.connect(cluster.kubeconfig) as kube:
            report = build_report(kube, cluster_identity(settings.cluster), settings)
        elapsed = time.monotonic() - started
    (gap,) = [g for g in report.gaps if g.gatherer == "azure_cns_metrics"]
    assert (gap.resource, gap.reason) == (f"pods/proxy kube-system/{CNS_PODS[2]}:10092", "timeout")
    assert elapsed < 15, elapsed
    assert sorted(m.pod for m in report.cni.cns_metrics) == sorted([CNS_PODS[0], CNS_PODS[1]])


@pytest.fixture
def fleet_without_one_metrics_file(tmp_path: Path) -> SampleFleet:
    root = tmp_path / "fleet"
    shutil.copytree(DEFAULT_FLEET_ROOT, root)
    pod_dir = root / "kube" / OVERLAY / "proxy" / "kube-system" / "coredns-jfbrr8zs5q-d5vr8"
    shutil.rmtree(pod_dir)
    return load_sample_fleet(root)


def test_a_pod_serving_no_metrics_is_a_gap_and_the_other_pod_still_counts(
    tmp_path: Path, fleet_without_one_metrics_file: SampleFleet
) -> None:
    with start_sandbox(tmp_path / "run", fleet=fleet_without_one_metrics_file) as running:
        report = gather(running.cluster(OVERLAY), running.dns_server)
    (gap,) = [g for g in report.gaps if g.resource.startswith("pods/proxy")]
    assert (gap.gatherer, gap.resource, gap.reason) == (
        "coredns", "pods/proxy kube-system/coredns-jfbrr8zs5q-d5vr8:9153", "error"
    )  # fmt: skip
    assert "connection refused" in gap.message
    assert [m.pod for m in report.coredns.metrics] == ["coredns-jfbrr8zs5q-jqhlj"]
    # Healthy on the pod that answered, unknown on the other: not assessed.
    assert verdicts(report, OVERLAY)["DNS-009"] is Outcome.NOT_ASSESSED


# -- the sandbox's pod proxy, as kubectl and a plain HTTP client see it ---------------------

PROXY = "/api/v1/namespaces/kube-system/pods/{pod}:9153/proxy/{path}"


@pytest.fixture(scope="module")
def overlay_api() -> Iterator[KubeApiServer]:
    with KubeApiServer(load_sample_fleet().cluster(OVERLAY).kube_dir) as server:
        yield server


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_kubectl_reads_a_pods_metrics_through_the_proxy(
    overlay_api: KubeApiServer, tmp_path: Path
) -> None:
    require("kubectl")
    raw = PROXY.format(pod="coredns-jfbrr8zs5q-d5vr8", path="metrics")
    done = subprocess.run(
        ["kubectl", "--server", overlay_api.url, "--cache-dir", str(tmp_path), "get", "--raw", raw],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'coredns_build_info{goversion="go1.19.1",revision="f8a9e94",version="1.9.4"} 1' in (
        done.stdout
    )


@pytest.mark.parametrize(
    ("pod", "path", "status", "says"),
    [
        ("coredns-jfbrr8zs5q-d5vr8", "metrics", 200, "coredns_dns_requests_total"),
        ("coredns-jfbrr8zs5q-gone1", "metrics", 404, '\\"coredns-jfbrr8zs5q-gone1\\" not found'),
        ("coredns-jfbrr8zs5q-d5vr8", "healthz", 503, "dial tcp 10.244.1.4:9153: connect"),
        ("coredns-jfbrr8zs5q-d5vr8", "../../../../version.json", 503, "connection refused"),
    ],
    ids=["served", "unknown-pod", "nothing-on-that-path", "no-escape-from-the-pod-folder"],
)  # fmt: skip
def test_the_pod_proxy_answers_as_the_api_server_does(
    overlay_api: KubeApiServer, pod: str, path: str, status: int, says: str
) -> None:
    code, body = http_get(overlay_api.url + PROXY.format(pod=pod, path=path))
    assert (code, says in body) == (status, True), body[:300]


def test_discovery_lists_the_pod_proxy_subresource(overlay_api: KubeApiServer) -> None:
    with urllib.request.urlopen(overlay_api.url + "/api/v1", timeout=5) as response:
        resources = {r["name"]: r for r in json.loads(response.read())["resources"]}
    assert "get" in resources["pods/proxy"]["verbs"]
    assert resources["pods/log"]["verbs"] == ["get"]


def test_sample_events_and_policies_fit_the_strict_client_models() -> None:
    checked = 0
    api = k8s.ApiClient()
    try:
        for path in DEFAULT_FLEET_ROOT.glob("kube/*/*.yaml"):
            for document in yaml.safe_load_all(path.read_text()):
                model = {"Event": "CoreV1Event", "NetworkPolicy": "V1NetworkPolicy"}.get(
                    (document or {}).get("kind", "")
                )
                if model:
                    api.deserialize(json.dumps(document), model, "application/json")
                    checked += 1
    finally:
        api.close()
    assert checked == 7  # 3 events, 4 policies
