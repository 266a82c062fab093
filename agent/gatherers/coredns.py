"""CoreDNS: its Deployments, the Corefile, every ``coredns-custom`` key, the
autoscaler ladder, reload errors found in the CoreDNS pods' recent logs, and each
running pod's Prometheus metrics (read through the API server's pod proxy, so the agent
needs no route to the pod network; ``coredns_metrics`` reduces them).

DNS probes are active checks, not reads; ``report.build_report`` adds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from netaudit.agent.gatherers import coredns_metrics
from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    as_dict,
    as_list,
    name_of,
    namespace_of,
    spec,
    status,
    workload,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

DEPLOYMENTS = Resource("apps", "v1", "deployments")
CONFIGMAPS = Resource("", "v1", "configmaps")
PODS = Resource("", "v1", "pods")

NAMESPACE = "kube-system"
DEPLOYMENT_NAMES = ("coredns", "coredns-autoscaler")
COREFILE_CONFIG_MAP = "coredns"
COREFILE_KEY = "Corefile"
CUSTOM_CONFIG_MAP = "coredns-custom"
AUTOSCALER_CONFIG_MAP = "coredns-autoscaler"
POD_SELECTOR = "k8s-app=kube-dns"
CONTAINER = "coredns"
# plugin/reload logs "Corefile changed but reload failed"; the restart path logs "Restart failed".
RELOAD_ERROR_MARKERS = ("reload failed", "Restart failed")


def coredns_deployments(deployments: Iterable[KubeObject]) -> list[report_pb2.Workload]:
    return [
        workload(d, "Deployment")
        for d in deployments
        if namespace_of(d) == NAMESPACE and name_of(d) in DEPLOYMENT_NAMES
    ]


def corefile(config_map: KubeObject) -> str:
    return str(as_dict(config_map.get("data")).get(COREFILE_KEY, ""))


def custom_fragments(config_map: KubeObject) -> list[report_pb2.CorefileFragment]:
    """Every key of ``coredns-custom`` with its content, in key order."""
    data = as_dict(config_map.get("data"))
    return [
        report_pb2.CorefileFragment(key=str(k), content=str(v)) for k, v in sorted(data.items())
    ]


def autoscaler_config(config_map: KubeObject) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(config_map.get("data")).items()}


def reload_errors(log_text: str, pod: str) -> list[str]:
    """Log lines that say a Corefile reload failed, prefixed with the pod name."""
    return [
        f"{pod}: {line.strip()}"
        for line in log_text.splitlines()
        if any(marker in line for marker in RELOAD_ERROR_MARKERS)
    ]


def log_container(pod: KubeObject) -> str | None:
    """The CoreDNS container when the pod has several; None lets the API pick the only one."""
    names = [str(as_dict(c).get("name", "")) for c in as_list(spec(pod).get("containers"))]
    return CONTAINER if len(names) > 1 and CONTAINER in names else None


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    evidence = report.coredns
    evidence.deployments.extend(coredns_deployments(reads.list(DEPLOYMENTS) or []))
    main = reads.get(CONFIGMAPS, COREFILE_CONFIG_MAP, NAMESPACE)
    if main is not None:
        evidence.corefile = corefile(main)
    custom = reads.get(CONFIGMAPS, CUSTOM_CONFIG_MAP, NAMESPACE)
    if custom is not None:
        evidence.custom_present = True
        evidence.custom.extend(custom_fragments(custom))
    autoscaler = reads.get(CONFIGMAPS, AUTOSCALER_CONFIG_MAP, NAMESPACE)
    if autoscaler is not None:
        evidence.autoscaler_config.update(autoscaler_config(autoscaler))
    errors: list[str] = []
    for pod in reads.list(PODS, NAMESPACE, POD_SELECTOR) or []:
        if status(pod).get("phase") != "Running":
            continue
        text = reads.pod_log(
            NAMESPACE, name_of(pod), settings.coredns_log_tail_lines, log_container(pod)
        )
        if text:
            errors += reload_errors(text, name_of(pod))
        metrics = scrape_metrics(reads, pod, settings.pod_metrics_timeout_seconds)
        if metrics is not None:
            evidence.metrics.append(metrics)
    evidence.reload_errors.extend(errors[-settings.max_reload_errors :] if errors else [])


def scrape_metrics(
    reads: Reads, pod: KubeObject, timeout_seconds: float
) -> report_pb2.CorednsPodMetrics | None:
    """One pod's ``/metrics`` through the pod proxy; None (with a Gap) when it cannot be
    read in time or parsed."""
    port = coredns_metrics.metrics_port(pod)
    data = reads.pod_proxy_get(
        NAMESPACE, name_of(pod), port, coredns_metrics.METRICS_PATH, timeout_seconds
    )
    if data is None:
        return None
    try:
        return coredns_metrics.pod_metrics(
            data.decode("utf-8", errors="replace"), pod, datetime.now(UTC)
        )
    except ValueError as error:
        reads.gap(f"pods/proxy {NAMESPACE}/{name_of(pod)}:{port}", "error", str(error))
        return None


GATHERER = Gatherer(
    name="coredns",
    reads=(
        access_for(DEPLOYMENTS),
        access_for(
            CONFIGMAPS,
            verbs=("get",),
            names=(COREFILE_CONFIG_MAP, CUSTOM_CONFIG_MAP, AUTOSCALER_CONFIG_MAP),
            namespace=NAMESPACE,
        ),
        access_for(PODS, namespace=NAMESPACE),
        access_for(Resource("", "v1", "pods/log"), verbs=("get",), namespace=NAMESPACE),
        access_for(Resource("", "v1", "pods/proxy"), verbs=("get",), namespace=NAMESPACE),
    ),
    gather=gather,
)
