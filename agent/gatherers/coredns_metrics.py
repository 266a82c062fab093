"""CoreDNS's Prometheus exposition (``prometheus :9153``) reduced to what the rules read
(domain.md §3.4): requests, responses by rcode, upstream health-check failures and the
request-duration histogram, each summed over its server/zone/type labels.

Series were renamed across CoreDNS versions, so both spellings are read:
``coredns_dns_request_count_total`` / ``coredns_dns_response_rcode_count_total`` before
1.7.0, ``coredns_dns_requests_total`` / ``coredns_dns_responses_total`` since; the
forward plugin's ``coredns_forward_healthcheck_*`` moved to ``coredns_proxy_*`` in 1.11.
Counters are cumulative since the process started: a rate needs two reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from netaudit.agent.gatherers.gatherer import KubeObject
from netaudit.agent.gatherers.objects import as_dict, as_list, name_of, spec, status, timestamp
from netaudit.v1 import report_pb2

DEFAULT_PORT = 9153
"""The port of AKS's ``prometheus :9153`` (domain.md §3.1)."""
METRICS_PATH = "metrics"
CONTAINER = "coredns"
PORT_NAME = "metrics"

REQUESTS = ("coredns_dns_requests_total", "coredns_dns_request_count_total")
RESPONSES = ("coredns_dns_responses_total", "coredns_dns_response_rcode_count_total")
HEALTHCHECK_FAILURES = (
    "coredns_forward_healthcheck_failures_total",
    "coredns_proxy_healthcheck_failures_total",
)
HEALTHCHECK_BROKEN = (
    "coredns_forward_healthcheck_broken_total",
    "coredns_proxy_healthcheck_broken_total",
)
DURATION = "coredns_dns_request_duration_seconds"
BUILD_INFO = "coredns_build_info"
PROCESS_START = "process_start_time_seconds"


def metrics_port(pod: KubeObject) -> int:
    """The coredns container's port named ``metrics``, else AKS's 9153."""
    containers = [as_dict(c) for c in as_list(spec(pod).get("containers"))]
    for container in [c for c in containers if c.get("name") == CONTAINER] or containers:
        for port in map(as_dict, as_list(container.get("ports"))):
            if port.get("name") == PORT_NAME and port.get("containerPort"):
                return int(port["containerPort"])
    return DEFAULT_PORT


def container_started(pod: KubeObject) -> Timestamp | None:
    """When the coredns container last started (its counters restart with it), else when
    the pod started."""
    statuses = [as_dict(s) for s in as_list(status(pod).get("containerStatuses"))]
    preferred = [s for s in statuses if s.get("name") == CONTAINER] or statuses[:1]
    for state in preferred:
        started = timestamp(as_dict(as_dict(state.get("state")).get("running")).get("startedAt"))
        if started is not None:
            return started
    return timestamp(status(pod).get("startTime"))


def _samples(text: str) -> Iterator[Sample]:
    for family in text_string_to_metric_families(text):
        yield from family.samples


def _summed(samples: Iterable[Sample], names: tuple[str, ...]) -> float:
    return sum(s.value for s in samples if s.name in names and math.isfinite(s.value))


def pod_metrics(text: str, pod: KubeObject, scraped_at: datetime) -> report_pb2.CorednsPodMetrics:
    """One pod's exposition as evidence; ValueError when it does not parse or carries no
    CoreDNS request series (the prometheus plugin is not loaded on that port)."""
    samples = list(_samples(text))
    names = {s.name for s in samples}
    if not names & {*REQUESTS, *RESPONSES}:
        raise ValueError("no coredns_dns_requests/responses series in the exposition")
    evidence = report_pb2.CorednsPodMetrics(
        pod=name_of(pod),
        node=str(spec(pod).get("nodeName", "")),
        requests_total=_summed(samples, REQUESTS),
        healthcheck_broken_total=_summed(samples, HEALTHCHECK_BROKEN),
    )
    evidence.scraped_at.FromDatetime(scraped_at.astimezone(UTC))
    started = _process_start(samples) or container_started(pod)
    if started is not None:
        evidence.counting_since.CopyFrom(started)
    for sample in samples:
        if sample.name == BUILD_INFO:
            evidence.version = sample.labels.get("version", "")
        elif sample.name in RESPONSES:
            rcode = sample.labels.get("rcode", "")
            evidence.responses_by_rcode[rcode] = (
                evidence.responses_by_rcode.get(rcode, 0.0) + sample.value
            )
        elif sample.name in HEALTHCHECK_FAILURES:
            upstream = sample.labels.get("to", "")
            evidence.healthcheck_failures_by_upstream[upstream] = (
                evidence.healthcheck_failures_by_upstream.get(upstream, 0.0) + sample.value
            )
    evidence.request_duration_buckets.extend(duration_buckets(samples))
    evidence.request_duration_count = _summed(samples, (f"{DURATION}_count",))
    evidence.request_duration_sum_seconds = _summed(samples, (f"{DURATION}_sum",))
    return evidence


def duration_buckets(samples: Iterable[Sample]) -> list[report_pb2.HistogramBucket]:
    """The request-duration histogram's cumulative buckets summed over every label set
    (CoreDNS gives each the same bounds), sorted by upper bound, +Inf last."""
    counts: dict[float, float] = {}
    for sample in samples:
        if sample.name != f"{DURATION}_bucket" or "le" not in sample.labels:
            continue
        bound = float(sample.labels["le"])
        counts[bound] = counts.get(bound, 0.0) + sample.value
    return [
        report_pb2.HistogramBucket(upper_bound=bound, cumulative_count=count)
        for bound, count in sorted(counts.items())
    ]


def _process_start(samples: Iterable[Sample]) -> Timestamp | None:
    for sample in samples:
        if sample.name == PROCESS_START and sample.value > 0:
            started = Timestamp()
            started.FromDatetime(datetime.fromtimestamp(sample.value, UTC))
            return started
    return None
