"""IP exhaustion rules (domain.md §5 IPX-*)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta

from netaudit.collector.analysis.address_ranges import parse_address
from netaudit.collector.analysis.forecast import UsagePoint, forecast_exhaustion
from netaudit.collector.rules.rule import (
    DataSource,
    DoesNotApply,
    NotAssessed,
    Rule,
    Threshold,
    inventory,
    report,
)
from netaudit.collector.rules.services import service_cidrs
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, report_pb2

MIN_SPAN = timedelta(hours=24)
"""A trend from less than a day of points says more about the day than the month."""


def _forecast_exhaustion(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Each node and pod subnet's used IPs over the window, trended (Theil-Sen): full in
    under ``warning_days`` is the base severity, under ``critical_days`` one level higher
    (domain.md §5 IPX-001, §1.11). Flat or falling use passes; too few points over too
    short a span cannot be judged."""
    window = timedelta(days=rule.threshold("window_days", settings))
    min_points = int(rule.threshold("min_points", settings))
    warning = rule.threshold("warning_days", settings)
    critical = rule.threshold("critical_days", settings)
    history = {usage.range_key: usage for usage in view.facts.usage_history}
    unjudged = []
    for usage in view.utilisation:
        key = usage.subnet_id.lower()
        points = [
            UsagePoint(point.at.ToDatetime(tzinfo=UTC), point.used)
            for point in (history[key].points if key in history else ())
        ]
        recent = [p for p in points if view.now - window <= p.at <= view.now]
        if len(recent) < min_points or recent[-1].at - recent[0].at < MIN_SPAN:
            unjudged.append(
                f"{_name(key)} has {len(recent)} usage point(s) in the last "
                f"{window.days} days (the forecast needs {min_points} over at least a day)"
            )
            continue
        forecast = forecast_exhaustion(
            points, usage.limit, now=view.now, window=window, min_points=min_points
        )
        if forecast is None or forecast.days_to_full >= warning:
            continue
        severity = rule.graded(+1) if forecast.days_to_full < critical else rule.severity
        yield rule.finding(
            view,
            resource=key,
            severity=severity,
            message=f"{usage.role} subnet {_name(key)} uses {usage.used} of {usage.limit} IPs "
            f"and grows by {forecast.slope_per_day:.1f} a day: full in "
            f"{forecast.days_to_full:.1f} days, around {forecast.full_at.date().isoformat()}",
            evidence={
                "used": usage.used,
                "limit": usage.limit,
                "slope_per_day": round(forecast.slope_per_day, 3),
                "days_to_full": round(forecast.days_to_full, 1),
                "full_at": forecast.full_at.date().isoformat(),
                "points": forecast.points,
                "window_days": round(forecast.window_days, 1),
            },
        )
    if unjudged:
        raise NotAssessed("; ".join(unjudged))


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


IPX_001 = Rule(
    id="IPX-001",
    title="Forecast IP exhaustion < 30 days",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "A subnet that fills at its current growth rate within a month blocks scaling before "
        "anyone reacts to a utilisation alert. The trend is the median slope between the "
        "recorded usage points (Theil-Sen), so one burst during an upgrade does not set it."
    ),
    remediation=(
        "Plan the capacity now: add a pool on a bigger subnet, move to Azure CNI Overlay, or "
        "slow the growth (maxCount)."
    ),
    references=("https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",),
    data_source=DataSource.BOTH,
    # the usage history comes with the inventory's usages (one point per refresh)
    reads=(inventory("cluster"), inventory("virtual_networks")),
    check=_forecast_exhaustion,
    thresholds=(
        Threshold("warning_days", 30, "Days to full below which the finding is raised."),
        Threshold(
            "critical_days", 7, "Days to full below which it is one level higher (critical)."
        ),
        Threshold(
            "window_days",
            14,
            "Days of usage points the trend is fitted to: two weeks spans weekday and "
            "weekend load and follows a change of growth within days.",
        ),
        Threshold(
            "min_points",
            6,
            "Usage points (inventory refreshes) in the window below which no forecast is made.",
        ),
    ),
)


WINDOW_SECONDS = Threshold(
    "window_seconds",
    3600,
    "Age (seconds) within which the newest IP-allocation failure on a node is flagged: an "
    "hour is the API server's default Event TTL (--event-ttl 1h), so it keeps failures "
    "that are still happening and drops those the cluster got past.",
)
MAX_MESSAGE_CHARS = 300


def _pods_failing_ip_allocation(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """FailedCreatePodSandBox events whose message says the pod got no IP ('failed to
    allocate for range', 'no IP addresses available', SubnetIsFull, NCUpdateSubnetFullError),
    the newest within ``window_seconds`` of the scan (domain.md §5 IPX-002), one finding per
    node."""
    agent = view.require_report()
    if not agent.HasField("ip_allocation"):
        raise NotAssessed("the agent report holds no pod sandbox events (an older agent)")
    window = rule.threshold(WINDOW_SECONDS.name, settings)
    cutoff = view.now - timedelta(seconds=window)
    by_node: dict[str, list[report_pb2.IpAllocationFailure]] = {}
    for failure in agent.ip_allocation.failures:
        # An event without any time cannot be shown old: it counts as recent.
        if failure.HasField("last_seen") and failure.last_seen.ToDatetime(tzinfo=UTC) < cutoff:
            continue
        by_node.setdefault(failure.node, []).append(failure)
    for node, failures in sorted(by_node.items()):
        yield _node_finding(rule, view, node, failures, window)


def _node_finding(
    rule: Rule,
    view: ClusterView,
    node: str,
    failures: list[report_pb2.IpAllocationFailure],
    window: float,
) -> audit_pb2.Finding:
    newest = max(failures, key=lambda f: f.last_seen.ToDatetime(tzinfo=UTC))
    last = newest.last_seen.ToDatetime(tzinfo=UTC) if newest.HasField("last_seen") else None
    firsts = [f.first_seen.ToDatetime(tzinfo=UTC) for f in failures if f.HasField("first_seen")]
    occurrences = sum(f.occurrences for f in failures)
    pods = list(dict.fromkeys(p for f in failures for p in f.pods))
    pods_total = max(sum(f.pods_total for f in failures), len(pods))
    markers = ", ".join(dict.fromkeys(f.marker for f in failures))
    where = f"node {node}" if node else "an unnamed node"
    when = last.isoformat() if last is not None else "an unknown time"
    return rule.finding(
        view,
        resource=f"Node {node}" if node else view.cluster_key,
        message=f"pods on {where} failed to get an IP {occurrences} time(s) ({markers}), "
        f"last at {when}, within {window / 60:g} min of the scan: "
        f"{pods_total} pod(s) affected, e.g. {', '.join(pods[:3]) or 'unnamed'}",
        evidence={
            "node": node or "unknown",
            "markers": markers,
            "occurrences": occurrences,
            "events": sum(f.events for f in failures),
            "pods_total": pods_total,
            "pods": ",".join(pods),
            "first_seen": min(firsts).isoformat() if firsts else "unknown",
            "last_seen": when,
            "window_seconds": f"{window:g}",
            "message": newest.message[:MAX_MESSAGE_CHARS],
        },
    )


IPX_002 = Rule(
    id="IPX-002",
    title="Pods failing IP allocation",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale=(
        "Pods whose sandbox cannot get an IP ('failed to allocate for range', 'no IP "
        "addresses available', SubnetIsFull) never start."
    ),
    remediation=(
        "Free IPs in the exhausted range (pod CIDR, pod subnet or node subnet) or add "
        "capacity; see the events with kubectl get events -A --field-selector "
        "reason=FailedCreatePodSandBox."
    ),
    references=(
        "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-subnetisfull-upgrade",
    ),
    data_source=DataSource.AGENT,
    reads=(report("ip_allocation"),),
    check=_pods_failing_ip_allocation,
    thresholds=(WINDOW_SECONDS,),
)


def _service_cidr_nearly_full(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Per serviceCidr: ClusterIPs of the agent's Service list inside it / 2^(32-p) above
    ``ratio`` (domain.md §5 IPX-003, §1.11); the inventory gives the CIDR, the report the IPs."""
    cidrs = service_cidrs(view.require_inventory().network_profile)
    ips = view.require_report().services.cluster_ips
    addresses = {address for address in map(parse_address, ips) if address is not None}
    invalid = [ip for ip in ips if parse_address(ip) is None]
    threshold = rule.threshold("ratio", settings)
    full = []
    for cidr in cidrs:
        used = sum(1 for address in addresses if address in cidr)
        if used / cidr.num_addresses > threshold:
            full.append((cidr, used))
    if full:
        evidence: dict[str, object] = {"threshold": threshold}
        for cidr, used in full:
            evidence[f"used.{cidr}"] = used
            evidence[f"size.{cidr}"] = cidr.num_addresses
            evidence[f"ratio.{cidr}"] = round(used / cidr.num_addresses, 3)
        described = ", ".join(
            f"{cidr} has {used} of {cidr.num_addresses} addresses in use "
            f"({used / cidr.num_addresses:.1%})"
            for cidr, used in full
        )
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"service CIDR nearly full: {described}, above {threshold:.0%}; new "
            "Services will fail to get a cluster IP",
            evidence=evidence,
        )
    if invalid:
        raise NotAssessed(f"cluster IPs do not parse: {', '.join(invalid)}")


IPX_003 = Rule(
    id="IPX-003",
    title="Service CIDR nearly full",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "Every ClusterIP Service takes an address of the service CIDR; when it runs out, new "
        "Services are refused, and the range cannot be enlarged in place on AKS."
    ),
    remediation=(
        "Delete unused Services or make internal ones headless (clusterIP: None); plan a "
        "larger --service-cidr for a replacement cluster (Kubernetes >= 1.33 can add ranges "
        "with ServiceCIDR objects)."
    ),
    references=("https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",),
    data_source=DataSource.BOTH,
    reads=(inventory("cluster"), report("services")),
    check=_service_cidr_nearly_full,
    thresholds=(
        Threshold(
            "ratio",
            0.8,
            "Share (0..1) of the service CIDR's addresses in use above which it is flagged: "
            "80% leaves room to plan before Service creation fails.",
        ),
    ),
)


AZURE_CNS = ("kube-system", "azure-cns")
"""The azure-cns DaemonSet: where it does not run, no node keeps an IP pool (kubenet, BYO)."""
CNS_METRICS = "azure_cns_metrics"
"""The agent gatherer that scrapes each azure-cns pod's :10092/metrics."""
MAX_NODES_NAMED = 10


def _runs_azure_cns(agent: report_pb2.Report) -> bool:
    return bool(agent.cni.cns_metrics) or any(
        (w.kind, w.namespace, w.name) == ("DaemonSet", *AZURE_CNS) for w in agent.cni.workloads
    )


def _node_pool_empty(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A node whose azure-cns reports ``cx_ipam_available_ips == 0`` while pods scheduled
    there wait in Pending for a pod-network IP (domain.md §5 IPX-004, ACN-MET); one finding
    per node. Pending pods on a node whose pool is unknown are not judged."""
    agent = view.require_report()
    if not _runs_azure_cns(agent):
        raise DoesNotApply
    pools = {m.node: m for m in agent.cni.cns_metrics if m.HasField("available_ips")}
    if not pools:
        raise NotAssessed(
            "azure-cns runs but the report holds no cx_ipam_available_ips for any node: "
            + (
                _unread(agent)
                or "azure-cns keeps no IP pool in node-subnet mode (AzureHost), or an older "
                "agent does not scrape it"
            )
        )
    unknown = []
    for node in sorted(agent.nodes, key=lambda n: n.name):
        # virtual nodes (ACI) take pod IPs from ACI, not from an azure-cns pool
        if node.pending_pods_on_pod_network <= 0 or node.virtual_kubelet:
            continue
        pool = pools.get(node.name)
        if pool is None:
            unknown.append(node.name)
        elif pool.available_ips <= 0:
            yield _pool_empty_finding(rule, view, node, pool)
    if unknown:
        raise NotAssessed(_unknown_pools_reason(unknown, agent))


def _unknown_pools_reason(unknown: list[str], agent: report_pb2.Report) -> str:
    shown = ", ".join(unknown[:MAX_NODES_NAMED]) + (" …" if len(unknown) > MAX_NODES_NAMED else "")
    reason = f"{len(unknown)} node(s) with Pending pods have no azure-cns pool figures: {shown}"
    unread = _unread(agent)
    return f"{reason}; {unread}" if unread else reason


def _unread(agent: report_pb2.Report) -> str:
    """What the agent could not scrape of azure-cns, from its gaps ('' when none)."""
    gaps = [gap for gap in agent.gaps if gap.gatherer == CNS_METRICS]
    if not gaps:
        return ""
    detail = f": {gaps[0].message}" if gaps[0].message else ""
    more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
    return f"the agent could not read {gaps[0].resource} ({gaps[0].reason}{detail}){more}"


def _pool_empty_finding(
    rule: Rule, view: ClusterView, node: report_pb2.Node, pool: report_pb2.CnsNodeMetrics
) -> audit_pb2.Finding:
    exhausted = sorted(s.subnet or s.podnet_arm_id for s in pool.subnets if s.exhaustion_state)
    evidence: dict[str, object] = {
        "node": node.name,
        "available_ips": pool.available_ips,
        "pending_pods": node.pending_pods_on_pod_network,
    }
    for field in ("total_ips", "requested_ips", "pod_allocated_ips"):
        if pool.HasField(field):
            evidence[field] = getattr(pool, field)
    if exhausted:
        evidence["exhausted_subnets"] = ",".join(exhausted)
    total = f" of {pool.total_ips}" if pool.HasField("total_ips") else ""
    why = f"; azure-cns sees subnet {', '.join(exhausted)} exhausted" if exhausted else ""
    return rule.finding(
        view,
        resource=f"Node {node.name}",
        message=f"node {node.name} has no free IP in its azure-cns pool (0 available{total}) "
        f"while {node.pending_pods_on_pod_network} pod(s) scheduled on it are Pending{why}",
        evidence=evidence,
    )


IPX_004 = Rule(
    id="IPX-004",
    title="Node IP pool empty with pending pods",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "A node whose azure-cns pool has no free IP while pods wait for it cannot start them "
        "until the next batch arrives, or ever when the subnet is full."
    ),
    remediation=(
        "Check cx_ipam_available_ips on the node and the pod subnet's free IPs; add pod "
        "subnet capacity or spread the pods."
    ),
    references=(
        "https://github.com/Azure/azure-container-networking/blob/master/cns/doc/examples/metrics/README.md",
    ),
    data_source=DataSource.AGENT,
    reads=(
        report("nodes", "nodes/v1"),
        report("nodes", "pods/v1"),
        report("cni", "daemonsets.apps/v1"),
        # a node whose azure-cns could not be scraped may be the empty one
        report(CNS_METRICS, optional=True),
    ),
    check=_node_pool_empty,
)


VNET_PRIVATE_IP_LIMIT = 65_536
"""Configured private IPs per virtual network (A-IPP)."""


def _vnet_near_limit(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Σ currentValue of a VNet's subnet usages > ``ratio`` * 65,536 (domain.md §5 IPX-005);
    rows without a value (-1, e.g. GatewaySubnet) are skipped."""
    threshold = rule.threshold("ratio", settings)
    for vnet in view.require_inventory().virtual_networks:
        rows = [usage for usage in vnet.subnet_usages if usage.current_value >= 0]
        used = int(sum(usage.current_value for usage in rows))
        if used <= threshold * VNET_PRIVATE_IP_LIMIT:
            continue
        name = vnet.name or vnet.id.rstrip("/").rsplit("/", 1)[-1]
        yield rule.finding(
            view,
            resource=vnet.id.lower(),
            message=f"VNet {name} has {used} private IPs in use over {len(rows)} subnets, "
            f"{used / VNET_PRIVATE_IP_LIMIT:.1%} of the {VNET_PRIVATE_IP_LIMIT:,} a VNet "
            f"may hold, above {threshold:.0%}",
            evidence={
                "used": used,
                "limit": VNET_PRIVATE_IP_LIMIT,
                "ratio": round(used / VNET_PRIVATE_IP_LIMIT, 3),
                "threshold": threshold,
                "subnets": len(rows),
            },
        )


IPX_005 = Rule(
    id="IPX-005",
    title="VNet near 65,536 private IP limit",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "A virtual network holds at most 65,536 configured private IPs whatever its address "
        "space; near it, new nodes, pod IPs and private endpoints fail even in subnets with "
        "free addresses."
    ),
    remediation=(
        "Move workloads to another VNet (peered), use Azure CNI Overlay so pods take no VNet "
        "IPs, or static block allocation, whose /28 blocks count once each."
    ),
    references=("https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("virtual_networks")),
    check=_vnet_near_limit,
    thresholds=(
        Threshold(
            "ratio",
            0.8,
            "Share (0..1) of the 65,536 private IPs a VNet may hold above which it is "
            "flagged: 80% leaves room for a migration before allocations fail.",
        ),
    ),
)
