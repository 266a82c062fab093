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

from netaudit.agent.gatherers.azure_cns_metrics import (
    DEFAULT_PORT,
    metrics_port,
    node_metrics,
)
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
