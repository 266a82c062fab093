"""azure-cns's Prometheus exposition reduced to the cx_ipam evidence of CNI-006/007 and
IPX-004.

No exposition is published in the fixtures: the texts are the sample fleet's synthetic
ones (sandbox/fleet_data/MANIFEST.md: the series and labels of domain.md §1.5), with
series renamed, removed or broken where a case needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from netaudit.agent.config import load_settings
from netaudit.agent.errors import KubeTimeout
from netaudit.agent.gatherers.azure_cns_metrics import (
    DEFAULT_PORT,
    GATHERER,
    metrics_port,
    node_metrics,
)
from netaudit.agent.gatherers.reads import ReadCache, Reads
from netaudit.v1 import report_pb2
from tests.conftest import REPO

PROXY = REPO / "sandbox" / "fleet_data" / "kube" / "aks-overlay-priv-weu" / "proxy"
HEALTHY_POD, EXHAUSTED_POD = "azure-cns-85rnv", "azure-cns-n4d75"
NODE = "aks-nodepool1-40915282-vmss000002"
SUBNET = "routingdomain_8b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e_overlaysubnet"
SCRAPED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PODNET = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/"
    "Microsoft.Network/virtualNetworks/vnet/subnets/{name}"
)


def exposition(pod: str) -> str:
    return Path(PROXY / "kube-system" / pod / "10092" / "metrics.txt").read_text()


def pod(name: str = EXHAUSTED_POD, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "cns-container"}
    if ports is not None:
        container["ports"] = ports
    return {
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"nodeName": NODE, "containers": [container]},
    }


def figures(evidence: report_pb2.CnsNodeMetrics) -> dict[str, int | None]:
    names = ("available_ips", "requested_ips", "total_ips", "pod_allocated_ips")
    return {n: getattr(evidence, n) if evidence.HasField(n) else None for n in names}


def pool(
    available: int | None, requested: int | None, total: int | None, allocated: int | None
) -> dict[str, int | None]:
    return {
        "available_ips": available,
        "requested_ips": requested,
        "total_ips": total,
        "pod_allocated_ips": allocated,
    }


def states(evidence: report_pb2.CnsNodeMetrics) -> list[tuple[str, str, str, int]]:
    return [
        (s.subnet, s.subnet_cidr, s.podnet_arm_id, s.exhaustion_state) for s in evidence.subnets
    ]


def without(text: str, series: str) -> str:
    return "\n".join(line for line in text.splitlines() if series not in line)


def renamed(text: str, old: str, new: str) -> str:
    return text.replace(f"{old} ", f"{new} ").replace(f"{old}{{", f"{new}{{")


POD_SUBNET_TWO_LABEL_SETS = f"""# HELP cx_ipam_available_ips Available IP count.
# TYPE cx_ipam_available_ips gauge
cx_ipam_available_ips{{podnet_arm_id="{PODNET.format(name="pods-a")}",subnet="pods-a",subnet_cidr="10.241.0.0/16"}} 5
cx_ipam_available_ips{{podnet_arm_id="{PODNET.format(name="pods-b")}",subnet="pods-b",subnet_cidr="10.242.0.0/16"}} 3
# HELP cx_ipam_subnet_exhaustion_state IPAM view of subnet exhaustion state
# TYPE cx_ipam_subnet_exhaustion_state gauge
cx_ipam_subnet_exhaustion_state{{podnet_arm_id="{PODNET.format(name="pods-b")}",subnet="pods-b",subnet_cidr="10.242.0.0/16"}} 1
cx_ipam_subnet_exhaustion_state{{podnet_arm_id="{PODNET.format(name="pods-a")}",subnet="pods-a",subnet_cidr="10.241.0.0/16"}} 0
"""  # noqa: E501

NEWER_BUILD_BOTH_SPELLINGS = """# TYPE cx_ipam_available_ips gauge
cx_ipam_available_ips{podnet_arm_id="",subnet="s",subnet_cidr="10.241.0.0/16"} 7
# TYPE cx_available_ips_v2 gauge
cx_available_ips_v2{podnet_arm_id="",subnet="s",subnet_cidr="10.241.0.0/16"} 7
# TYPE cx_assigned_ips_v2 gauge
cx_assigned_ips_v2{podnet_arm_id="",subnet="s",subnet_cidr="10.241.0.0/16"} 32
# TYPE cx_allocated_ips_v2 gauge
cx_allocated_ips_v2{podnet_arm_id="",subnet="s",subnet_cidr="10.241.0.0/16"} 25
"""

NODE_SUBNET_NO_POOL = """# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 61
"""


@pytest.mark.parametrize(
    ("text", "expected_figures", "expected_states"),
    [
        pytest.param(
            exposition(EXHAUSTED_POD),
            pool(0, 0, 256, 256),
            [(SUBNET, "10.244.0.0/16", "", 1)],
            id="exhausted-pool",
        ),
        pytest.param(
            exposition(HEALTHY_POD),
            pool(246, 0, 256, 10),
            [(SUBNET, "10.244.0.0/16", "", 0)],
            id="healthy-pool",
        ),
        pytest.param(
            without(exposition(HEALTHY_POD), "cx_ipam_requested_ips"),
            pool(246, None, 256, 10),
            [(SUBNET, "10.244.0.0/16", "", 0)],
            id="missing-series-is-unset-not-zero",
        ),
        pytest.param(
            without(exposition(EXHAUSTED_POD), "cx_ipam_subnet_exhaustion_state"),
            pool(0, 0, 256, 256),
            [],
            id="no-exhaustion-series",
        ),
        pytest.param(
            POD_SUBNET_TWO_LABEL_SETS,
            pool(8, None, None, None),
            [
                ("pods-a", "10.241.0.0/16", PODNET.format(name="pods-a"), 0),
                ("pods-b", "10.242.0.0/16", PODNET.format(name="pods-b"), 1),
            ],
            id="two-subnets-summed-and-kept-apart",
        ),
        pytest.param(
            NEWER_BUILD_BOTH_SPELLINGS,
            pool(7, None, 32, 25),
            [],
            id="v2-names-read-never-added-to-v1",
        ),
        pytest.param(
            renamed(
                renamed(exposition(HEALTHY_POD), "cx_ipam_available_ips", "cx_available_ips_v2"),
                "cx_ipam_total_ips",
                "cx_assigned_ips_v2",
            ),
            pool(246, 0, 256, 10),
            [(SUBNET, "10.244.0.0/16", "", 0)],
            id="v2-names-only",
        ),
        pytest.param(
            NODE_SUBNET_NO_POOL,
            pool(None, None, None, None),
            [],
            id="no-ip-pool-series",
        ),
    ],
)  # fmt: skip
def test_an_exposition_reduces_to_the_nodes_pool(
    text: str, expected_figures: dict[str, int | None], expected_states: list[Any]
) -> None:
    evidence = node_metrics(text, pod(), SCRAPED)
    assert (evidence.node, evidence.pod) == (NODE, EXHAUSTED_POD)
    assert evidence.scraped_at.ToDatetime(tzinfo=UTC) == SCRAPED
    assert figures(evidence) == expected_figures
    assert states(evidence) == expected_states


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>502 Bad Gateway</body></html>",
        'cx_ipam_available_ips{subnet="s" 3',
        "cx_ipam_available_ips not-a-number",
    ],
    ids=["html-page", "unclosed-labels", "bad-value"],
)
def test_a_malformed_body_raises_value_error(body: str) -> None:
    with pytest.raises(ValueError):
        node_metrics(body, pod(), SCRAPED)


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        (None, DEFAULT_PORT),
        ([{"name": "api", "containerPort": 10090}], DEFAULT_PORT),
        ([{"name": "api", "containerPort": 10090},
          {"name": "metrics", "containerPort": 9100}], 9100),
    ],
    ids=["no-ports", "no-metrics-port", "named-metrics-port"],
)  # fmt: skip
def test_the_metrics_port_is_the_named_one_else_10092(
    ports: list[dict[str, Any]] | None, expected: int
) -> None:
    assert metrics_port(pod(ports=ports)) == expected


# -- the scrape loop over a cluster's azure-cns pods -------------------------------------
# A stand-in for the API server below the agent's KubeReader seam: azure-cns pods on N
# nodes whose pod proxy answers with the sample exposition or times out.


class PodProxy:
    """The KubeReader reads this gatherer makes: its pod list and the pod proxy."""

    def __init__(self, nodes: int, hung: set[int]) -> None:
        self.pods = [
            {
                "metadata": {"name": f"azure-cns-{i:05d}", "namespace": "kube-system"},
                "spec": {"nodeName": f"aks-nodepool1-1-vmss{i:06d}", "containers": []},
                "status": {"phase": "Running", "startTime": "2026-11-20T06:12:31Z"},
            }
            for i in range(nodes)
        ]
        self.hung = {f"azure-cns-{i:05d}" for i in hung}
        self.scraped: list[tuple[str, int, float | None]] = []

    def list_objects(self, group: str, version: str, plural: str, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        assert (group, version, plural) == ("", "v1", "pods")
        return iter(self.pods)

    def pod_proxy_get(
        self, namespace: str, name: str, port: int, path: str, timeout_seconds: float | None = None
    ) -> bytes:
        self.scraped.append((name, port, timeout_seconds))
        if name in self.hung:
            raise KubeTimeout("pods/proxy", "no answer from https://127.0.0.1 in time")
        return exposition(HEALTHY_POD).encode()


def gather_from(proxy: PodProxy) -> report_pb2.Report:
    report = report_pb2.Report()
    reads = Reads(ReadCache(proxy), GATHERER.name, GATHERER.reads, report)  # type: ignore[arg-type]
    GATHERER.gather(
        reads, report, load_settings({"gather": {"pod_metrics_timeout_seconds": 2}}).gather
    )
    return report


def test_each_node_is_scraped_once_with_the_metrics_timeout() -> None:
    proxy = PodProxy(nodes=4, hung={1})
    report = gather_from(proxy)
    assert [(port, timeout) for _, port, timeout in proxy.scraped] == [(DEFAULT_PORT, 2)] * 4
    assert [m.node for m in report.cni.cns_metrics] == [
        f"aks-nodepool1-1-vmss{i:06d}" for i in (0, 2, 3)
    ]
    assert [(g.resource, g.reason) for g in report.gaps] == [
        ("pods/proxy kube-system/azure-cns-00001:10092", "timeout")
    ]


def test_after_three_timeouts_in_a_row_the_rest_are_skipped_with_one_gap() -> None:
    proxy = PodProxy(nodes=10, hung={0, 2, 3, 4, 5, 6, 7, 8, 9})
    report = gather_from(proxy)
    assert [name for name, _, _ in proxy.scraped] == [f"azure-cns-{i:05d}" for i in range(5)]
    assert [m.pod for m in report.cni.cns_metrics] == ["azure-cns-00001"]
    *per_pod, skipped = report.gaps
    assert len(per_pod) == 4 and {g.reason for g in per_pod} == {"timeout"}
    assert (skipped.resource, skipped.reason) == (
        "pods/proxy kube-system/k8s-app=azure-cns",
        "timeout",
    )
    assert skipped.message == "5 azure-cns pod(s) not scraped after 3 timed out in a row"
