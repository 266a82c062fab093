"""azure-cns's IPAM pool per node: each running azure-cns pod's ``:10092/metrics``
(domain.md §1.5, ACN-MET) read through the API server's pod proxy, as CoreDNS's metrics
are, and reduced to the ``cx_ipam_*`` gauges CNI-006, CNI-007 and IPX-004 read: one entry
per node, never per IP.

Newer azure-cns builds add ``cx_{allocated,assigned,available}_ips_v2``; a figure is read
from the first spelling the exposition carries, never summed over both (a build may export
both for the same pool). A pod that cannot be reached or whose body does not parse is a
gap; a body without ``cx_ipam_*`` series (azure-cns keeping no IP pool, as in node-subnet
mode) is an entry with the figures unset, for the rules to say so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import as_dict, as_list, name_of, spec, status
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

PODS = Resource("", "v1", "pods")
PODS_PROXY = Resource("", "v1", "pods/proxy")
NAMESPACE = "kube-system"
POD_SELECTOR = "k8s-app=azure-cns"
CONTAINER = "cns-container"
PORT_NAME = "metrics"
DEFAULT_PORT = 10092
"""azure-cns's Prometheus port (ACN-MET, domain.md §1.5)."""
METRICS_PATH = "metrics"
MAX_CONSECUTIVE_TIMEOUTS = 3
"""azure-cns pods that may time out in a row before the rest are skipped: one per node, a
cluster whose pod proxy hangs (a tunnel down) would otherwise hold the report for
nodes x (retries + 1) x the metrics timeout."""
TIMEOUT = "timeout"

AVAILABLE = ("cx_ipam_available_ips", "cx_available_ips_v2")
REQUESTED = ("cx_ipam_requested_ips",)
TOTAL = ("cx_ipam_total_ips", "cx_assigned_ips_v2")
POD_ALLOCATED = ("cx_ipam_pod_allocated_ips", "cx_allocated_ips_v2")
EXHAUSTION_STATE = "cx_ipam_subnet_exhaustion_state"
SUBNET_LABELS = ("subnet", "subnet_cidr", "podnet_arm_id")


def metrics_port(pod: KubeObject) -> int:
    """The cns container's port named ``metrics``, else azure-cns's 10092."""
    containers = [as_dict(c) for c in as_list(spec(pod).get("containers"))]
    for container in [c for c in containers if c.get("name") == CONTAINER] or containers:
        for port in map(as_dict, as_list(container.get("ports"))):
            if port.get("name") == PORT_NAME and port.get("containerPort"):
                return int(port["containerPort"])
    return DEFAULT_PORT


SAMPLE_LINE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*[\s{]")
"""How a sample line of the text format starts: its metric name, then labels or a space."""
IPAM_LINE_PREFIXES = ("cx_", "# HELP cx_", "# TYPE cx_")


def ipam_lines(text: str) -> str:
    """The body's ``cx_*`` families only; ValueError when a line is no sample or comment
    (an HTML error page, say). azure-cns also exposes Go runtime and HTTP series: parsing
    them cost ~1.2 ms a scrape, 6 s of a 5,000-node cluster's report."""
    kept = []
    for line in text.splitlines():
        if line.startswith(IPAM_LINE_PREFIXES):
            kept.append(line)
        elif line.strip() and not line.startswith("#") and not SAMPLE_LINE.match(line):
            raise ValueError(f"not the Prometheus text format: {line[:80]!r}")
    return "\n".join(kept) + "\n"


def _samples(text: str) -> list[Sample]:
    return [
        sample
        for family in text_string_to_metric_families(ipam_lines(text))
        for sample in family.samples
        if math.isfinite(sample.value)
    ]


def _first_spelling(samples: Iterable[Sample], names: tuple[str, ...]) -> int | None:
    """The sum over label sets of the first of ``names`` present, else None."""
    by_name: dict[str, float] = {}
    for sample in samples:
        if sample.name in names:
            by_name[sample.name] = by_name.get(sample.name, 0.0) + sample.value
    return next((round(by_name[name]) for name in names if name in by_name), None)


def subnet_states(samples: Iterable[Sample]) -> list[report_pb2.CnsSubnetState]:
    """``cx_ipam_subnet_exhaustion_state`` per subnet label set, sorted by subnet."""
    states = {
        tuple(sample.labels.get(label, "") for label in SUBNET_LABELS): round(sample.value)
        for sample in samples
        if sample.name == EXHAUSTION_STATE
    }
    return [
        report_pb2.CnsSubnetState(
            subnet=subnet, subnet_cidr=cidr, podnet_arm_id=podnet, exhaustion_state=state
        )
        for (subnet, cidr, podnet), state in sorted(states.items())
    ]


def node_metrics(text: str, pod: KubeObject, scraped_at: datetime) -> report_pb2.CnsNodeMetrics:
    """One azure-cns pod's exposition as its node's evidence; ValueError when it does not
    parse as the Prometheus text format."""
    samples = _samples(text)
    evidence = report_pb2.CnsNodeMetrics(
        node=str(spec(pod).get("nodeName", "")),
        pod=name_of(pod),
        subnets=subnet_states(samples),
    )
    evidence.scraped_at.FromDatetime(scraped_at.astimezone(UTC))
    for field, names in (
        ("available_ips", AVAILABLE),
        ("requested_ips", REQUESTED),
        ("total_ips", TOTAL),
        ("pod_allocated_ips", POD_ALLOCATED),
    ):
        value = _first_spelling(samples, names)
        if value is not None:
            setattr(evidence, field, value)
    return evidence


def proxy_resource(pod: KubeObject) -> str:
    """The gap resource of one azure-cns pod's endpoint."""
    return f"pods/proxy {NAMESPACE}/{name_of(pod)}:{metrics_port(pod)}"


def scrape(
    reads: Reads, pod: KubeObject, timeout_seconds: float
) -> report_pb2.CnsNodeMetrics | None:
    """One pod's ``/metrics`` through the pod proxy; None (with a Gap) when it cannot be
    read in time or parsed."""
    data = reads.pod_proxy_get(
        NAMESPACE, name_of(pod), metrics_port(pod), METRICS_PATH, timeout_seconds
    )
    if data is None:
        return None
    try:
        return node_metrics(data.decode("utf-8", errors="replace"), pod, datetime.now(UTC))
    except ValueError as error:
        reads.gap(proxy_resource(pod), "error", str(error))
        return None


def _newest_per_node(pods: Iterable[KubeObject]) -> dict[str, tuple[str, KubeObject]]:
    """node -> (start time, the Running azure-cns pod that started last on it, slimmed)."""
    newest: dict[str, tuple[str, KubeObject]] = {}
    for pod in pods:
        node = str(spec(pod).get("nodeName") or "")
        started = str(status(pod).get("startTime", ""))
        if status(pod).get("phase") != "Running" or not node:
            continue
        if node not in newest or started >= newest[node][0]:
            newest[node] = (started, _scrape_view(pod))
    return newest


def _scrape_view(pod: KubeObject) -> KubeObject:
    """What a scrape reads of a pod: its name, node and the containers' ports."""
    containers = [as_dict(c) for c in as_list(spec(pod).get("containers"))]
    return {
        "metadata": {"name": name_of(pod), "namespace": NAMESPACE},
        "spec": {
            "nodeName": spec(pod).get("nodeName"),
            "containers": [{"name": c.get("name"), "ports": c.get("ports")} for c in containers],
        },
    }


def _timed_out(report: report_pb2.Report, pod: KubeObject) -> bool:
    """Whether the gap just recorded says ``pod`` did not answer in time."""
    last = report.gaps[-1] if report.gaps else None
    return last is not None and (last.resource, last.reason) == (proxy_resource(pod), TIMEOUT)


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    # One azure-cns per node (a DaemonSet); during a rollout the newest pod speaks for it.
    # Streamed, keeping only what a scrape needs: 5,000 whole pod objects held for the
    # report took 74 MiB of the agent's 250 at the largest cluster AKS supports.
    newest = reads.fold(PODS, _newest_per_node, NAMESPACE, POD_SELECTOR)
    if newest is None:
        return
    in_a_row = 0
    ordered = [pod for _, (_, pod) in sorted(newest.items())]
    for index, pod in enumerate(ordered):
        if in_a_row >= MAX_CONSECUTIVE_TIMEOUTS:
            skipped = len(ordered) - index
            reads.gap(
                f"pods/proxy {NAMESPACE}/{POD_SELECTOR}",
                TIMEOUT,
                f"{skipped} azure-cns pod(s) not scraped after {in_a_row} timed out in a row",
            )
            return
        metrics = scrape(reads, pod, settings.pod_metrics_timeout_seconds)
        if metrics is not None:
            report.cni.cns_metrics.append(metrics)
        in_a_row = in_a_row + 1 if metrics is None and _timed_out(report, pod) else 0


GATHERER = Gatherer(
    name="azure_cns_metrics",
    reads=(
        access_for(PODS, namespace=NAMESPACE),
        access_for(PODS_PROXY, verbs=("get",), namespace=NAMESPACE),
    ),
    gather=gather,
)
