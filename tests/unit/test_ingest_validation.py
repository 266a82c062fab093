"""Report validation, table-driven from real reports: the agent's own gatherers read the
sandbox's three clusters (its Kubernetes API on loopback), then each case alters one field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from netaudit.agent.config import load_settings
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, cluster_identity
from netaudit.collector.ingest.validation import (
    MAX_VIOLATIONS,
    agent_id_violations,
    describe,
    report_violations,
)
from netaudit.sandbox.runner import start_sandbox
from netaudit.v1 import report_pb2

OVERLAY = "aks-overlay-priv-weu"
MiB = 1 << 20


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    """Each sandbox cluster's report as the agent builds it (serialized: cases alter copies)."""
    reports = {}
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as sandbox:
        for cluster in sandbox.clusters:
            settings = load_settings(
                {
                    "cluster": {"id": cluster.arm_resource_id, "region": cluster.region},
                    "dns": {
                        "server": sandbox.dns_server,
                        "extra_probe_names": list(cluster.dns_probe_names),
                    },
                }
            )
            with Kube.connect(cluster.kubeconfig) as kube:
                report = build_report(kube, cluster_identity(settings.cluster), settings)
            reports[cluster.name] = report.SerializeToString()
    yield reports


def overlay(real_reports: dict[str, bytes]) -> report_pb2.Report:
    report = report_pb2.Report.FromString(real_reports[OVERLAY])
    assert len(report.nodes) == 3 and report.gateway_api.gateways and report.coredns.probes
    return report


def test_the_agents_real_reports_are_valid(real_reports: dict[str, bytes]) -> None:
    assert sorted(real_reports) == ["aks-cni-neu", "aks-kubenet-weu", OVERLAY]
    for name, data in real_reports.items():
        assert report_violations(report_pb2.Report.FromString(data)) == [], name


def test_a_5000_node_cluster_fits_the_limits(real_reports: dict[str, bytes]) -> None:
    report = overlay(real_reports)
    template = list(report.nodes)
    del report.nodes[:]
    for index in range(5_000):
        node = report.nodes.add()
        node.CopyFrom(template[index % len(template)])
        node.name = f"aks-nodepool1-40915282-vmss{index:06d}"
        node.pod_cidrs[:] = [f"10.{128 + index // 256}.{index % 256}.0/24"]
    report.services.cluster_ips.extend(f"10.0.{i // 256}.{i % 256}" for i in range(20_000))
    assert report.ByteSize() > 5 * MiB
    assert report_violations(report) == []


def _set(path: str, value: object) -> Callable[[report_pb2.Report], None]:
    """Set the field at a dotted path with [index] steps, e.g. nodes[1].pod_cidrs[0]."""

    def alter(report: report_pb2.Report) -> None:
        *steps, last = path.split(".")
        target: object = report
        for step in steps:
            target = _step(target, step)
        if last.endswith("]"):
            name, index = last[:-1].split("[")
            getattr(target, name)[int(index)] = value
        else:
            setattr(target, last, value)

    return alter


def _step(target: object, step: str) -> object:
    if step.endswith("]"):
        name, index = step[:-1].split("[")
        return getattr(target, name)[int(index)]
    return getattr(target, step)


def _add_pod_cidr(report: report_pb2.Report) -> None:
    report.nodes[0].pod_cidrs.extend(["fd00:10:244::/64", "10.245.0.0/24"])


def _headless_cluster_ip(report: report_pb2.Report) -> None:
    report.services.cluster_ips.append("None")


def _long_label(report: report_pb2.Report) -> None:
    report.nodes[0].network_labels["kubernetes.azure.com/agentpool"] = "p" * 2_000


def _too_many_nodes(report: report_pb2.Report) -> None:
    for index in range(10_001 - len(report.nodes)):
        report.nodes.add(name=f"n{index}")


def _many_answers(report: report_pb2.Report) -> None:
    report.answers_request_ids.extend(f"request-{index}" for index in range(65))


def _far_future(report: report_pb2.Report) -> None:
    report.gathered_at.seconds = 10**12


def _unaddressable_load_balancer(report: report_pb2.Report) -> None:
    report.load_balancer_services.add(
        namespace="shop", name="web", load_balancer_addresses=["not an address!"]
    )


def _listener_port(report: report_pb2.Report) -> None:
    report.gateway_api.gateways[0].listeners[0].port = 70_000


SUBNET_ID = (
    "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-net-shop/providers/"
    "Microsoft.Network/virtualNetworks/vnet-shop/subnets/snet-overlay"
)
GOOD_ID = (
    "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourcegroups/rg-shop-weu/providers/"
    "Microsoft.ContainerService/managedClusters/aks-overlay-priv-weu"
)

NNC_RANGE = "nodes[1].node_network_config.network_containers[0].subnet_address_space"
CONDITION = "gateway_api.gateway_classes[0].conditions[0].message"
OTHER_SUBSCRIPTION = GOOD_ID.replace("bbbbbbbb-0000-0000-0000-000000000002", "s1")
LONG_NAME = GOOD_ID.replace("aks-overlay-priv-weu", "a" * 64)

CASES: list[tuple[str, Callable[[report_pb2.Report], None], str]] = [
    ("1 MiB report id", _set("report_id", "r" * MiB), "report_id: 1048576 characters"),
    ("report id path", _set("report_id", "../../etc"), "report_id: must be 1-128"),
    ("no report id", _set("report_id", ""), "report_id: required"),
    ("no cluster id", _set("cluster.arm_resource_id", ""), "cluster.arm_resource_id: required"),
    ("subnet id", _set("cluster.arm_resource_id", SUBNET_ID), "not an AKS managed cluster id"),
    ("subscription s1", _set("cluster.arm_resource_id", OTHER_SUBSCRIPTION), "not an AKS"),
    ("64-char name", _set("cluster.arm_resource_id", LONG_NAME), "not an AKS managed cluster"),
    ("trailing slash", _set("cluster.arm_resource_id", GOOD_ID + "/"), "not an AKS managed"),
    ("long cluster.name", _set("cluster.name", "n" * 64), "cluster.name: 64 characters"),
    ("CIDR /33", _set("nodes[1].pod_cidrs[0]", "10.244.1.0/33"), "nodes[1].pod_cidrs[0]: not a"),
    ("CIDR w/o length", _set("nodes[2].pod_cidrs[0]", "10.244.2.0"), "nodes[2].pod_cidrs[0]: not"),
    ("3 pod CIDRs", _add_pod_cidr, "nodes[0].pod_cidrs: 3 entries, more than 2"),
    ("IP .300", _set("nodes[2].internal_ips[0]", "10.30.0.300"), "nodes[2].internal_ips[0]: not"),
    ("IP None", _headless_cluster_ip, "services.cluster_ips[7]: not an IP address: 'None'"),
    ("NNC range", _set(NNC_RANGE, "10.244.0.0"), f"{NNC_RANGE}: not a CIDR: '10.244.0.0'"),
    ("pods -1", _set("nodes[0].allocatable_pods", -1), "nodes[0].allocatable_pods: must not be"),
    ("replicas -2", _set("cni.workloads[0].desired_replicas", -2), "desired_replicas: must not"),
    ("services -7", _set("services.services_total", -7), "services.services_total: must not be"),
    ("NaN", _set("coredns.probes[0].latency_seconds", float("nan")), "probes[0].latency_seconds"),
    ("-0.5 s", _set("coredns.probes[1].latency_seconds", -0.5), "probes[1].latency_seconds: must"),
    ("port 70000", _listener_port, "gateway_api.gateways[0].listeners[0].port: not a port: 70000"),
    ("condition", _set(CONDITION, "m" * 40_000), f"{CONDITION}: 40000 characters, more than 32768"),
    ("Corefile 1 MiB+1", _set("coredns.corefile", "." * (MiB + 1)), "coredns.corefile: 1048577"),
    ("label", _long_label, "nodes[0].network_labels['kubernetes.azure.com/agentpool']: 2000 ch"),
    ("10,001 nodes", _too_many_nodes, "nodes: 10001 entries, more than 10000"),
    ("65 answers", _many_answers, "answers_request_ids: 65 entries, more than 64"),
    (
        "answer id path",
        lambda report: report.answers_request_ids.append("../x"),
        "answers_request_ids[0]: must be 1-128",
    ),
    ("year 33658", _far_future, "gathered_at: not a time between years 1 and 9999"),
    ("LB address", _unaddressable_load_balancer, "load_balancer_addresses[0]: neither an IP"),
]


@pytest.mark.parametrize(
    ("alter", "expected"), [(a, e) for _, a, e in CASES], ids=[c[0] for c in CASES]
)
def test_an_altered_report_names_the_field_and_what_is_wrong(
    real_reports: dict[str, bytes], alter: Callable[[report_pb2.Report], None], expected: str
) -> None:
    report = overlay(real_reports)
    alter(report)
    violations = report_violations(report)
    assert any(expected in str(v) for v in violations), describe(violations)
    assert len(describe(violations)) < 1_000, "values are quoted clipped"


ARM_CASING = GOOD_ID.replace("resourcegroups/rg-shop-weu", "RESOURCEGROUPS/Rg_(Shop).1")
VALID: list[tuple[str, Callable[[report_pb2.Report], None]]] = [
    ("ARM casing and group characters", _set("cluster.arm_resource_id", ARM_CASING)),
    (
        "ip-masq CIDR is evidence",
        _set("cni.ip_masq_agent_configs[0].non_masquerade_cidrs[0]", "1/"),
    ),
    ("Corefile is evidence", _set("coredns.corefile", "forward . 10.0.0.300\n")),
    ("IPv6 pod CIDR", _set("nodes[0].pod_cidrs[0]", "fd00:10:244:1::/64")),
    ("NNC range unset", _set(NNC_RANGE, "")),
    (
        "answers a report request",
        lambda report: report.answers_request_ids.append("0b7e8a52-3c1d-4e0f-9a51-2f6c7d8e9a10"),
    ),
]


@pytest.mark.parametrize("alter", [a for _, a in VALID], ids=[name for name, _ in VALID])
def test_what_a_cluster_may_really_hold_is_no_violation(
    real_reports: dict[str, bytes], alter: Callable[[report_pb2.Report], None]
) -> None:
    report = overlay(real_reports)
    alter(report)
    assert report_violations(report) == []


def test_violations_stop_at_the_cap_and_say_there_may_be_more(
    real_reports: dict[str, bytes],
) -> None:
    report = overlay(real_reports)
    for _ in range(40):
        report.nodes.add(name="n", allocatable_pods=-1)
    violations = report_violations(report)
    assert len(violations) == MAX_VIOLATIONS
    assert describe(violations).endswith("(and maybe more)")


def test_a_hello_agent_id_is_a_pod_or_host_name() -> None:
    assert agent_id_violations("netaudit-agent-7d9c5b6f4-x2x9q") == []
    assert [str(v) for v in agent_id_violations("a" * 254)] == [
        "hello.agent_id: 254 characters, more than 253"
    ]
