"""CoreDNS's Prometheus exposition reduced to DNS-009's evidence.

No exposition is published in the fixtures: the texts are the sample fleet's hand-made
ones (sandbox/fleet_data/MANIFEST.md: CoreDNS 1.9.4 and 1.11.3 series and help texts),
with the pre-1.7 and 1.11 series names substituted where a test needs them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from netaudit.agent.gatherers.coredns_metrics import (
    DEFAULT_PORT,
    container_started,
    metrics_port,
    pod_metrics,
)
from tests.conftest import REPO

KUBE = REPO / "sandbox" / "fleet_data" / "kube"
OVERLAY_POD = "coredns-jfbrr8zs5q-d5vr8"
KUBENET_POD = "coredns-fdflqpv9b6-qdrw7"
SCRAPED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def exposition(cluster: str, pod: str) -> str:
    return Path(KUBE / cluster / "proxy" / "kube-system" / pod / "9153" / "metrics.txt").read_text()


def pod(name: str = OVERLAY_POD, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "nodeName": "aks-nodepool1-40915282-vmss000001",
            "containers": [
                {"name": "coredns", "ports": [{"name": "metrics", "containerPort": 9153}]}
            ],
        },
        "status": status,
    }


def test_a_coredns_1_9_exposition_is_summed_over_its_labels() -> None:
    evidence = pod_metrics(exposition("aks-overlay-priv-weu", OVERLAY_POD), pod(), SCRAPED)
    assert (evidence.pod, evidence.node, evidence.version) == (
        OVERLAY_POD,
        "aks-nodepool1-40915282-vmss000001",
        "1.9.4",
    )
    assert evidence.requests_total == 4_888_504
    assert sum(evidence.responses_by_rcode.values()) == evidence.requests_total
    assert evidence.responses_by_rcode["SERVFAIL"] == 1515
    assert dict(evidence.healthcheck_failures_by_upstream) == {}
    assert evidence.healthcheck_broken_total == 0
    bounds = [b.upper_bound for b in evidence.request_duration_buckets]
    assert bounds[0] == 0.00025 and math.isinf(bounds[-1]) and len(bounds) == 17
    assert evidence.request_duration_buckets[-1].cumulative_count == evidence.request_duration_count
    assert evidence.request_duration_count == evidence.requests_total
    assert evidence.scraped_at.ToDatetime(tzinfo=UTC) == SCRAPED


def test_the_counting_window_starts_with_the_process() -> None:
    evidence = pod_metrics(exposition("aks-overlay-priv-weu", OVERLAY_POD), pod(), SCRAPED)
    assert evidence.counting_since.ToJsonString() == "2026-11-20T06:12:31.870Z"


def test_without_process_start_the_container_start_is_the_window() -> None:
    text = "\n".join(
        line
        for line in exposition("aks-overlay-priv-weu", OVERLAY_POD).splitlines()
        if "process_start_time_seconds" not in line
    )
    running = pod(
        containerStatuses=[
            {"name": "coredns", "state": {"running": {"startedAt": "2026-11-21T10:00:00Z"}}}
        ],
        startTime="2026-11-20T06:12:31Z",
    )
    evidence = pod_metrics(text, running, SCRAPED)
    assert evidence.counting_since.ToJsonString() == "2026-11-21T10:00:00Z"
    assert container_started(pod(startTime="2026-11-20T06:12:31Z")) is not None


def test_coredns_1_11_proxy_healthcheck_failures_are_read_per_upstream() -> None:
    text = exposition("aks-kubenet-weu", KUBENET_POD) + (
        "# TYPE coredns_proxy_healthcheck_failures_total counter\n"
        'coredns_proxy_healthcheck_failures_total{proxy_name="forward",to="168.63.129.16:53"} 3\n'
        'coredns_proxy_healthcheck_failures_total{proxy_name="forward",to="10.0.0.4:53"} 1\n'
    )
    evidence = pod_metrics(text, pod(KUBENET_POD), SCRAPED)
    assert evidence.version == "1.11.3"
    assert dict(evidence.healthcheck_failures_by_upstream) == {
        "168.63.129.16:53": 3.0,
        "10.0.0.4:53": 1.0,
    }


def test_coredns_1_9_forward_healthcheck_failures_are_read() -> None:
    text = exposition("aks-overlay-priv-weu", OVERLAY_POD) + (
        "# TYPE coredns_forward_healthcheck_failures_total counter\n"
        'coredns_forward_healthcheck_failures_total{to="10.100.0.4:53"} 12\n'
    )
    evidence = pod_metrics(text, pod(), SCRAPED)
    assert dict(evidence.healthcheck_failures_by_upstream) == {"10.100.0.4:53": 12.0}


def test_series_names_before_coredns_1_7_are_read() -> None:
    text = exposition("aks-overlay-priv-weu", OVERLAY_POD)
    text = text.replace("coredns_dns_requests_total", "coredns_dns_request_count_total")
    text = text.replace("coredns_dns_responses_total", "coredns_dns_response_rcode_count_total")
    evidence = pod_metrics(text, pod(), SCRAPED)
    assert evidence.requests_total == 4_888_504
    assert evidence.responses_by_rcode["SERVFAIL"] == 1515


@pytest.mark.parametrize(
    "text",
    [
        "# TYPE go_goroutines gauge\ngo_goroutines 41\n",
        "<html><body>404 page not found</body></html>\n",
        'coredns_dns_requests_total{zone="." 1\n',
    ],
    ids=["no-coredns-series", "html", "broken-line"],
)
def test_an_exposition_without_coredns_series_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        pod_metrics(text, pod(), SCRAPED)


def test_the_metrics_port_is_the_coredns_container_port_named_metrics() -> None:
    custom = pod()
    custom["spec"]["containers"][0]["ports"] = [{"name": "metrics", "containerPort": 9253}]
    assert metrics_port(custom) == 9253
    bare = pod()
    bare["spec"]["containers"][0].pop("ports")
    assert metrics_port(bare) == DEFAULT_PORT
