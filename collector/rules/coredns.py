"""CoreDNS rules (domain.md §5 DNS-*, §3): the coredns-custom keys AKS imports into its
Corefile, the CoreDNS Deployment and its autoscaler, reload failures in the pods' logs,
and NodeLocal DNSCache next to AKS LocalDNS.

The parsed configuration is :attr:`ClusterView.coredns`. When the agent could not read
the AKS-managed ``coredns`` ConfigMap (or its Corefile does not parse), AKS's default
block stands in for it: AKS reconciles that ConfigMap, so the default is what runs
(evidence ``default_block_from`` says which one a verdict rests on).
"""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis.coredns_autoscaler import InvalidParams, replica_floor
from netaudit.collector.analysis.coredns_config import Fragment, FragmentKind
from netaudit.collector.analysis.coredns_listeners import Listener, ListenerRegistry
from netaudit.collector.analysis.coredns_plugins import is_builtin
from netaudit.collector.analysis.corefile import Directive, ServerBlock, ZoneAddress, zone_address
from netaudit.collector.analysis.latency_histogram import merged, quantile
from netaudit.collector.rules.rule import (
    DataSource,
    NotAssessed,
    Rule,
    Threshold,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, report_pb2

NAMESPACE = "kube-system"
CUSTOM_CONFIGMAP = f"{NAMESPACE}/coredns-custom"
AUTOSCALER_CONFIGMAP = f"{NAMESPACE}/coredns-autoscaler"
COREDNS_DEPLOYMENT = "coredns"
COREDNS_DOCS = "https://learn.microsoft.com/azure/aks/coredns-custom"

ALWAYS_DUPLICATE = frozenset({"forward", "prometheus"})
"""``forward`` in an override is a confirmed reload failure (Azure/AKS#2623, coredns#4729);
``prometheus`` "can only be used once per Server Block" (CD-MET)."""

DUPLICATE_IF_IN_DEFAULT = frozenset(
    {"kubernetes", "cache", "loop", "health", "ready", "reload", "loadbalance"}
)
"""Single-instance plugins flagged when the default block already has them (domain.md §5)."""

CUSTOM_CONFIG = report("coredns", f"configmaps/v1 {CUSTOM_CONFIGMAP}")
"""ConfigMap coredns-custom, as the coredns gatherer names its gaps."""
AUTOSCALER_CONFIG = report("coredns", f"configmaps/v1 {AUTOSCALER_CONFIGMAP}")
DEPLOYMENTS = report("coredns", "deployments.apps/v1")
COREDNS_PODS = report("coredns", "pods/v1")
COREDNS_LOGS = report("coredns", "pods/log", optional=True)
"""One pod's log that could not be read may hold the failure: without findings the rule
is then not assessed, with findings they stand."""

MIN_REPLICAS = Threshold(
    "min_replicas",
    2,
    "Fewest CoreDNS replicas: with one, a node drain, eviction or crash stops all cluster "
    "DNS; AKS recommends at least 2 (A-CDA).",
)


def _require_parsed(view: ClusterView, *kinds: FragmentKind) -> None:
    """NotAssessed naming every coredns-custom key of these kinds that does not parse."""
    errors = view.coredns.parse_errors(*kinds)
    if errors:
        raise NotAssessed(f"coredns-custom does not parse: {'; '.join(errors)}")


def _custom_resource(key: str) -> str:
    return f"{CUSTOM_CONFIGMAP}/{key}"


RESTART = "kubectl -n kube-system rollout restart deployment coredns"


# -- DNS-001 -----------------------------------------------------------------------------


def _ignored_key(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A coredns-custom data key not ending in .server or .override (domain.md §5 DNS-001):
    AKS imports only ``custom/*.server`` and ``custom/*.override`` (A-CDC)."""
    for fragment in view.coredns.of_kind(FragmentKind.IGNORED):
        yield rule.finding(
            view,
            resource=_custom_resource(fragment.key),
            message=f"coredns-custom key {fragment.key} ends in neither .server nor .override: "
            "AKS's Corefile imports only custom/*.server and custom/*.override, so CoreDNS "
            "never reads it and the customisation has no effect",
            evidence={"key": fragment.key, "imported_suffixes": ".server,.override"},
        )


DNS_001 = Rule(
    id="DNS-001",
    title="coredns-custom key ignored",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="AKS's Corefile imports coredns-custom keys only through the globs "
    "custom/*.server and custom/*.override; a key named otherwise (custom.conf, "
    "Corefile) is silently ignored, so the DNS change its author expects never happens.",
    remediation="Rename the key to end in .server (a new server block, e.g. 'example.com:53 "
    "{ forward . 10.0.0.4 }') or .override (plugin lines for the default block), then "
    f"restart CoreDNS: {RESTART}.",
    references=(COREDNS_DOCS,),
    data_source=DataSource.AGENT,
    reads=(CUSTOM_CONFIG,),
    check=_ignored_key,
)


# -- DNS-002 -----------------------------------------------------------------------------


def _duplicate_plugin_in_override(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Any ``*.override`` with forward or prometheus, or with another single-instance
    plugin the server block it is spliced into already has (domain.md §5 DNS-002)."""
    config = view.coredns
    for fragment in config.of_kind(FragmentKind.OVERRIDE):
        if fragment.error is not None:
            continue
        for block in config.override_blocks.get(fragment.key, ()):
            duplicates = _duplicates(fragment.directives, block)
            if duplicates:
                yield _finding(rule, view, fragment.key, block, duplicates, config.main_source)
    _require_parsed(view, FragmentKind.OVERRIDE)


def _duplicates(directives: tuple[Directive, ...], block: ServerBlock) -> list[Directive]:
    present = {d.name for d in block.directives if d.name != "import"}
    return [
        d
        for d in directives
        if d.name in ALWAYS_DUPLICATE or (d.name in DUPLICATE_IF_IN_DEFAULT and d.name in present)
    ]


def _finding(
    rule: Rule,
    view: ClusterView,
    key: str,
    block: ServerBlock,
    duplicates: list[Directive],
    source: str,
) -> audit_pb2.Finding:
    names = sorted({d.name for d in duplicates})
    where = ", ".join(f"{d.name} (line {d.line})" for d in duplicates)
    server = " ".join(block.keys)
    evidence: dict[str, object] = {
        "key": key,
        "plugins": ",".join(names),
        "server_block": server,
        "default_block_from": source,
    }
    for directive in duplicates:
        evidence[f"{directive.name}.line"] = directive.line
        evidence[f"{directive.name}.args"] = " ".join(directive.args)
    return rule.finding(
        view,
        resource=_custom_resource(key),
        message=f"coredns-custom key {key} adds {where} to server block {server}, which may "
        "hold each of these plugins once: CoreDNS fails to load the config "
        "('this plugin can only be used once per Server Block') and keeps the old one",
        evidence=evidence,
    )


DNS_002 = Rule(
    id="DNS-002",
    title="Duplicate plugin in override",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="Lines of a *.override key are spliced into AKS's default .:53 server block, "
    "which already runs forward, prometheus, cache, kubernetes and the other single-instance "
    "plugins; a second one makes CoreDNS refuse the configuration, so the customisation "
    "never applies and restarted pods can fail to start.",
    remediation="Move the plugin into a *.server key with its own server block for the zone "
    "it serves (e.g. 'example.com:53 { forward . 10.0.0.4 }'), or delete the key; then "
    "restart CoreDNS: kubectl -n kube-system rollout restart deployment coredns.",
    references=(
        "https://learn.microsoft.com/azure/aks/coredns-custom",
        "https://github.com/Azure/AKS/issues/2623",
        "https://github.com/coredns/coredns/issues/4729",
    ),
    data_source=DataSource.AGENT,
    reads=(CUSTOM_CONFIG,),
    check=_duplicate_plugin_in_override,
)


# -- DNS-003 -----------------------------------------------------------------------------


def _server_block_clash(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A ``*.server`` block declaring the root zone ``.:53`` that AKS's default block serves,
    or any zone:port another server block already serves (domain.md §5 DNS-003)."""
    config = view.coredns
    registry = ListenerRegistry()
    for block in config.main_blocks:
        registry.add(block, "main Corefile")
    for fragment in config.loaded(FragmentKind.SERVER):
        for block in fragment.blocks:
            clashes = registry.add(block, fragment.key)
            if clashes:
                yield _clash_finding(rule, view, fragment.key, block, clashes, config.main_source)
    _require_parsed(view, FragmentKind.SERVER)


def _clash_finding(
    rule: Rule,
    view: ClusterView,
    key: str,
    block: ServerBlock,
    clashes: list[tuple[Listener, Listener]],
    source: str,
) -> audit_pb2.Finding:
    listener, existing = clashes[0]
    served = ", ".join(dict.fromkeys(str(new) for new, _ in clashes))
    others = ", ".join(dict.fromkeys(old.origin for _, old in clashes))
    what = (
        "redefines the root zone that AKS's default block already serves"
        if listener.address.is_root and existing.origin == "main Corefile"
        else f"serves {served}, which {others} already serves"
    )
    return rule.finding(
        view,
        resource=_custom_resource(key),
        message=f"coredns-custom key {key}: server block {' '.join(block.keys)} (line "
        f"{block.line}) {what}; CoreDNS refuses the whole configuration ('cannot serve "
        f"{listener} - it is already defined') and keeps running the old one",
        evidence={
            "key": key,
            "server_block": " ".join(block.keys),
            "line": block.line,
            "serves": served,
            "conflicts_with": others,
            "root_zone": listener.address.is_root,
            "default_block_from": source,
        },
    )


DNS_003 = Rule(
    id="DNS-003",
    title="Server block redefines root",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="AKS's Corefile already serves .:53; a *.server key declaring '.' or '.:53' "
    "(or a zone:port another block serves) makes CoreDNS reject the configuration with "
    "'cannot serve dns://.:53 - it is already defined', so no customisation applies and "
    "restarted pods cannot load any configuration.",
    remediation="Serve only the zones you change in *.server keys (e.g. 'example.com:53 { "
    "forward . 10.0.0.4 }'); put plugin lines meant for the root zone in a *.override key; "
    f"then restart CoreDNS: {RESTART}.",
    references=(COREDNS_DOCS, "https://github.com/Azure/AKS/issues/919"),
    data_source=DataSource.AGENT,
    reads=(CUSTOM_CONFIG,),
    check=_server_block_clash,
)


# -- DNS-004 -----------------------------------------------------------------------------


def _reload_failing(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """CoreDNS pods' recent logs say a Corefile reload or restart failed (domain.md §5
    DNS-004; the agent keeps the lines with 'reload failed' / 'Restart failed')."""
    lines = list(view.require_report().coredns.reload_errors)
    if not lines:
        return
    pods = sorted({line.split(":", 1)[0] for line in lines if ":" in line})
    yield rule.finding(
        view,
        resource=f"Deployment {NAMESPACE}/{COREDNS_DEPLOYMENT}",
        message=f"{len(lines)} log line(s) of CoreDNS pod(s) {', '.join(pods)} say the "
        f"Corefile failed to reload; the pods keep serving the previous configuration. "
        f"Latest: {lines[-1]}",
        evidence={"lines": len(lines), "pods": ",".join(pods), "latest": lines[-1]},
    )


DNS_004 = Rule(
    id="DNS-004",
    title="CoreDNS reload failing",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="When the reload plugin cannot load a changed Corefile it logs 'Corefile "
    "changed but reload failed' and keeps the old configuration: the change silently does "
    "not apply, and a pod restarted with the broken one fails to start.",
    remediation="Read the error: kubectl -n kube-system logs -l k8s-app=kube-dns | grep -i "
    "failed; fix or delete the coredns-custom key it names (kubectl -n kube-system edit "
    f"configmap coredns-custom), then restart CoreDNS: {RESTART}.",
    references=(
        "https://github.com/coredns/coredns/issues/4729",
        "https://learn.microsoft.com/azure/aks/coredns-troubleshoot",
    ),
    data_source=DataSource.AGENT,
    reads=(COREDNS_PODS, COREDNS_LOGS),
    check=_reload_failing,
)


# -- DNS-005 -----------------------------------------------------------------------------


def _unsupported_plugin(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A directive of a loaded coredns-custom key that is not a CoreDNS built-in plugin
    (domain.md §5 DNS-005; :mod:`netaudit.collector.analysis.coredns_plugins`)."""
    config = view.coredns
    for kind in (FragmentKind.SERVER, FragmentKind.OVERRIDE):
        for fragment in config.loaded(kind):
            unknown = [d for d in _top_level(fragment) if not is_builtin(d.name)]
            if unknown:
                yield _unsupported_finding(rule, view, fragment.key, unknown)
    _require_parsed(view, FragmentKind.SERVER, FragmentKind.OVERRIDE)


def _top_level(fragment: Fragment) -> list[Directive]:
    """Plugin lines: an override's lines, or every server block's (not their option blocks)."""
    if fragment.kind is FragmentKind.OVERRIDE:
        return list(fragment.directives)
    return [d for block in fragment.blocks for d in block.directives]


def _unsupported_finding(
    rule: Rule, view: ClusterView, key: str, unknown: list[Directive]
) -> audit_pb2.Finding:
    names = ",".join(dict.fromkeys(d.name for d in unknown))
    where = ", ".join(f"{d.name} (line {d.line})" for d in unknown)
    return rule.finding(
        view,
        resource=_custom_resource(key),
        message=f"coredns-custom key {key} uses {where}, which is not a plugin built into "
        "CoreDNS: AKS runs only built-in plugins, so CoreDNS fails to load the "
        "configuration ('unknown directive') and keeps the old one",
        evidence={"key": key, "plugins": names, "lines": ",".join(str(d.line) for d in unknown)},
    )


DNS_005 = Rule(
    id="DNS-005",
    title="Unsupported plugin",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="AKS's CoreDNS is the upstream build with its built-in plugins only; a "
    "directive that is not one of them (a third-party plugin or a typo) is an unknown "
    "directive, so the whole configuration is refused.",
    remediation="Remove the directive or replace it with a built-in plugin (list: "
    "https://coredns.io/plugins); run anything else as your own DNS server and forward a "
    f"zone to it from a *.server key; then restart CoreDNS: {RESTART}.",
    references=(COREDNS_DOCS, "https://github.com/coredns/coredns/blob/master/plugin.cfg"),
    data_source=DataSource.AGENT,
    reads=(CUSTOM_CONFIG,),
    check=_unsupported_plugin,
)


# -- DNS-006 -----------------------------------------------------------------------------

LOGGED_CLASSES = frozenset({"all", "success"})
"""log classes that include successful queries: these are the query log (plugin/log)."""


def _query_logging(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A ``log`` line in a ``*.override`` spliced into a root-zone block that logs every
    name (no NAMES, or ``.``) and successful answers (domain.md §5 DNS-006)."""
    config = view.coredns
    for fragment in config.loaded(FragmentKind.OVERRIDE):
        blocks = config.override_blocks[fragment.key]
        roots = [b for b in blocks if any(zone_address(k).is_root for k in b.keys)]
        if not roots:
            continue
        for directive in fragment.directives:
            if directive.name == "log" and _logs_every_query(directive):
                yield _logging_finding(rule, view, fragment.key, directive, roots[0])
    _require_parsed(view, FragmentKind.OVERRIDE)


def _log_names(directive: Directive) -> list[str]:
    """NAMES of ``log [NAMES...] [FORMAT]``: a last argument with '{' is the format when
    there are two or more (coredns/coredns plugin/log/setup.go); none means '.'."""
    args = list(directive.args)
    if len(args) > 1 and "{" in args[-1]:
        args = args[:-1]
    return [a.lower().rstrip(".") + "." if a.strip(".") else "." for a in args] or ["."]


def _log_classes(directive: Directive) -> set[str]:
    return {arg.lower() for d in directive.block if d.name == "class" for arg in d.args}


def _logs_every_query(directive: Directive) -> bool:
    classes = _log_classes(directive)
    return "." in _log_names(directive) and (not classes or bool(classes & LOGGED_CLASSES))


def _logging_finding(
    rule: Rule, view: ClusterView, key: str, directive: Directive, block: ServerBlock
) -> audit_pb2.Finding:
    classes = sorted(_log_classes(directive)) or ["all"]
    return rule.finding(
        view,
        resource=_custom_resource(key),
        message=f"coredns-custom key {key} turns on query logging (log, line "
        f"{directive.line}) in server block {' '.join(block.keys)}: every lookup of every "
        "pod is written to CoreDNS's log, which costs CPU and log volume and is meant for "
        "debugging only",
        evidence={
            "key": key,
            "line": directive.line,
            "args": " ".join(directive.args),
            "classes": ",".join(classes),
            "server_block": " ".join(block.keys),
        },
    )


DNS_006 = Rule(
    id="DNS-006",
    title="Query logging left on",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="AKS documents log.override for troubleshooting: logging every query of the "
    "cluster slows CoreDNS under load and fills the log pipeline; it is meant to be removed "
    "once the problem is found.",
    remediation="Delete the log line (or the key): kubectl -n kube-system edit configmap "
    f"coredns-custom; then restart CoreDNS: {RESTART}. To keep failures only, use "
    "'log . { class denial error }'.",
    references=(
        "https://learn.microsoft.com/azure/aks/coredns-troubleshoot",
        "https://github.com/coredns/coredns/blob/master/plugin/log/README.md",
    ),
    data_source=DataSource.AGENT,
    reads=(CUSTOM_CONFIG,),
    check=_query_logging,
)


# -- DNS-007 -----------------------------------------------------------------------------


def _under_replicated(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Available replicas of Deployment kube-system/coredns below ``min_replicas``
    (domain.md §5 DNS-007)."""
    deployment = _deployment(view.require_report().coredns, COREDNS_DEPLOYMENT)
    if deployment is None:
        raise NotAssessed(f"the agent found no Deployment {NAMESPACE}/{COREDNS_DEPLOYMENT}")
    minimum = int(rule.threshold(MIN_REPLICAS.name, settings))
    if deployment.available_replicas >= minimum:
        return
    yield rule.finding(
        view,
        resource=f"Deployment {NAMESPACE}/{COREDNS_DEPLOYMENT}",
        message=f"CoreDNS has {deployment.available_replicas} available replica(s) of "
        f"{deployment.desired_replicas} desired, fewer than {minimum}: one node drain, "
        "eviction or crash leaves the cluster without DNS",
        evidence={
            "available": deployment.available_replicas,
            "ready": deployment.ready_replicas,
            "desired": deployment.desired_replicas,
            "min_replicas": minimum,
        },
    )


def _deployment(evidence: report_pb2.CoreDns, name: str) -> report_pb2.Workload | None:
    return next(
        (w for w in evidence.deployments if w.namespace == NAMESPACE and w.name == name), None
    )


DNS_007 = Rule(
    id="DNS-007",
    title="CoreDNS under-replicated",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Every pod resolves names through CoreDNS; with fewer than two available "
    "replicas a single node drain, eviction or crash stops name resolution cluster-wide.",
    remediation="Find why replicas are unavailable: kubectl -n kube-system get deploy coredns "
    "and describe its pods (pending on capacity, crash-looping on a bad Corefile); raise the "
    "autoscaler's minimum in ConfigMap coredns-autoscaler if it asks for fewer than two.",
    references=("https://learn.microsoft.com/azure/aks/coredns-autoscale",),
    data_source=DataSource.AGENT,
    reads=(DEPLOYMENTS,),
    check=_under_replicated,
    thresholds=(MIN_REPLICAS,),
)


# -- DNS-008 -----------------------------------------------------------------------------


def _autoscaler_misconfigured(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """coredns-autoscaler ConfigMap that cluster-proportional-autoscaler cannot load, or
    whose smallest replica count is below ``min_replicas`` (domain.md §5 DNS-008)."""
    data = dict(view.require_report().coredns.autoscaler_config)
    if not data:
        return  # no ConfigMap: the autoscaler seeds it from its --default-params
    minimum = int(rule.threshold(MIN_REPLICAS.name, settings))
    try:
        mode, floor, detail = replica_floor(data)
    except InvalidParams as exc:
        yield rule.finding(
            view,
            resource=AUTOSCALER_CONFIGMAP,
            message=f"ConfigMap {AUTOSCALER_CONFIGMAP} is not valid for "
            f"cluster-proportional-autoscaler ({exc}): it keeps the last good parameters "
            "or, after a restart, stops scaling CoreDNS",
            evidence={"keys": ",".join(sorted(data)), "error": str(exc)},
        )
        return
    if floor >= minimum:
        return
    yield rule.finding(
        view,
        resource=AUTOSCALER_CONFIGMAP,
        message=f"ConfigMap {AUTOSCALER_CONFIGMAP} ({mode}) lets the autoscaler scale CoreDNS "
        f"down to {floor} replica(s), fewer than {minimum}: {detail}",
        evidence={"mode": mode, "min_replicas_possible": floor, "min_replicas": minimum},
    )


DNS_008 = Rule(
    id="DNS-008",
    title="coredns-autoscaler misconfigured",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="cluster-proportional-autoscaler sizes CoreDNS from ConfigMap "
    "coredns-autoscaler; parameters it cannot parse stop scaling, and a ladder or linear "
    "minimum below two lets it run CoreDNS as a single point of failure (AKS recommends at "
    "least two replicas).",
    remediation="Edit the ConfigMap (kubectl -n kube-system edit configmap coredns-autoscaler) "
    "to one key, ladder or linear, holding valid JSON whose smallest replica count is at "
    "least 2, e.g. AKS's default ladder '{\"coresToReplicas\":[[1,2],[512,3],[1024,4],"
    '[2048,5]],"nodesToReplicas":[[1,2],[8,3],[16,4],[32,5]]}\'.',
    references=(
        "https://learn.microsoft.com/azure/aks/coredns-autoscale",
        "https://github.com/kubernetes-sigs/cluster-proportional-autoscaler",
    ),
    data_source=DataSource.AGENT,
    reads=(AUTOSCALER_CONFIG,),
    check=_autoscaler_misconfigured,
    thresholds=(MIN_REPLICAS,),
)


# -- DNS-009 -----------------------------------------------------------------------------

SERVFAIL = "SERVFAIL"
COREDNS_METRICS = report("coredns", "pods/proxy", optional=True)
"""One pod's metrics that could not be read may be the unhealthy one: without findings the
rule is then not assessed, with findings they stand."""

SERVFAIL_RATIO = Threshold(
    "servfail_ratio",
    0.01,
    "Share (0..1) of CoreDNS requests answered SERVFAIL above which upstream DNS is flagged: "
    "1% is the usual alert (domain.md §3.4). Counted since the CoreDNS pods started.",
)
P99_SECONDS = Threshold(
    "p99_seconds",
    0.1,
    "99th percentile of CoreDNS request latency (seconds) above which it is flagged: 100 ms "
    "per lookup stalls pods whose search path turns one name into several queries. "
    "Estimated from the request-duration histogram since the CoreDNS pods started.",
)
HEALTHCHECK_FAILURES = Threshold(
    "healthcheck_failures",
    0,
    "Forward health-check failures (count over every CoreDNS pod and upstream since the pods "
    "started) above which an upstream is flagged: each one is an upstream that did not "
    "answer CoreDNS's probe.",
)


def _pod_window(metrics: list[report_pb2.CorednsPodMetrics]) -> str:
    starts = sorted(
        m.counting_since.ToJsonString() for m in metrics if m.HasField("counting_since")
    )
    return starts[0] if starts else "unknown"


def _upstream_unhealthy(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """SERVFAIL ratio > ``servfail_ratio``, or forward health-check failures >
    ``healthcheck_failures``, or p99 request latency > ``p99_seconds`` (domain.md §5 DNS-009,
    §3.4), summed over the CoreDNS pods the agent scraped. The counters are cumulative since
    each pod started, so this is the pods' lifetime, not a recent rate: a rate over a window
    needs two reports (not done yet)."""
    metrics = list(view.require_report().coredns.metrics)
    if not metrics:
        raise NotAssessed("the report holds no CoreDNS metrics (no running CoreDNS pod scraped)")
    requests = sum(m.requests_total for m in metrics)
    servfail = sum(m.responses_by_rcode.get(SERVFAIL, 0.0) for m in metrics)
    by_upstream: dict[str, float] = {}
    for pod in metrics:
        for upstream, count in pod.healthcheck_failures_by_upstream.items():
            by_upstream[upstream] = by_upstream.get(upstream, 0.0) + count
    failures = sum(by_upstream.values())
    broken = sum(m.healthcheck_broken_total for m in metrics)
    p99 = quantile(0.99, merged(m.request_duration_buckets for m in metrics))
    ratio = servfail / requests if requests > 0 else None
    max_ratio = rule.threshold(SERVFAIL_RATIO.name, settings)
    max_failures = rule.threshold(HEALTHCHECK_FAILURES.name, settings)
    max_p99 = rule.threshold(P99_SECONDS.name, settings)
    reasons = []
    if ratio is not None and ratio > max_ratio:
        reasons.append(
            f"{ratio:.2%} of requests answered SERVFAIL ({servfail:.0f} of {requests:.0f}), "
            f"above {max_ratio:.2%}"
        )
    if failures > max_failures:
        upstreams = ", ".join(f"{u or '?'} {c:.0f}" for u, c in sorted(by_upstream.items()) if c)
        reasons.append(f"{failures:.0f} forward health-check failures ({upstreams})")
    if p99 is not None and p99 > max_p99:
        reasons.append(f"p99 latency {p99 * 1000:.0f} ms, above {max_p99 * 1000:.0f} ms")
    if not reasons:
        return
    since = _pod_window(metrics)
    yield rule.finding(
        view,
        resource=f"Deployment {NAMESPACE}/{COREDNS_DEPLOYMENT}",
        message=f"upstream DNS looks unhealthy: {'; '.join(reasons)}. Counted over "
        f"{len(metrics)} CoreDNS pod(s) since they started (earliest {since}), not over a "
        "recent window",
        evidence={
            "pods": ",".join(m.pod for m in metrics),
            "window": "since pod start",
            "counting_since": since,
            "requests": f"{requests:.0f}",
            "servfail": f"{servfail:.0f}",
            "servfail_ratio": "n/a" if ratio is None else f"{ratio:.5f}",
            "healthcheck_failures": f"{failures:.0f}",
            "healthcheck_broken": f"{broken:.0f}",
            "p99_seconds": "n/a" if p99 is None else f"{p99:.4f}",
        },
    )


DNS_009 = Rule(
    id="DNS-009",
    title="Upstream DNS unhealthy",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "A SERVFAIL ratio above 1%, failing forward health checks or a slow upstream make "
        "every pod's lookups fail or stall. The agent reads CoreDNS's counters, which count "
        "since each CoreDNS pod started: the verdict covers the pods' lifetime, and an "
        "incident long past still shows until the pods restart."
    ),
    remediation=(
        "Check the upstream resolvers CoreDNS forwards to (the VNet DNS servers or "
        "168.63.129.16) and CoreDNS's logs."
    ),
    references=(
        "https://github.com/coredns/coredns/blob/master/plugin/forward/README.md",
        "https://github.com/coredns/coredns/blob/master/plugin/metrics/README.md",
    ),
    data_source=DataSource.AGENT,
    reads=(COREDNS_PODS, COREDNS_METRICS),
    check=_upstream_unhealthy,
    thresholds=(SERVFAIL_RATIO, HEALTHCHECK_FAILURES, P99_SECONDS),
)


# -- DNS-010 -----------------------------------------------------------------------------

NODE_LOCAL_DNS = "node-local-dns"
"""Upstream NodeLocal DNSCache: DaemonSet and label k8s-app (kubernetes/kubernetes
cluster/addons/dns/nodelocaldns; incluster.md §2)."""


def _nodelocal_and_localdns(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A node-local-dns DaemonSet while any pool's ``localDNSProfile.state`` is Enabled
    (domain.md §5 DNS-010)."""
    pools = [
        pool.name
        for pool in view.require_inventory().agent_pools
        if pool.local_dns_state.lower() == "enabled"
    ]
    if not pools:
        return
    for workload in view.require_report().cni.workloads:
        if workload.kind == "DaemonSet" and (
            workload.name == NODE_LOCAL_DNS or workload.labels.get("k8s-app") == NODE_LOCAL_DNS
        ):
            yield rule.finding(
                view,
                resource=f"DaemonSet {workload.namespace}/{workload.name}",
                message=f"NodeLocal DNSCache (DaemonSet {workload.namespace}/{workload.name}) "
                f"runs while AKS LocalDNS is enabled on pool(s) {', '.join(pools)}: two "
                "node-level DNS caches intercept the same lookups, which AKS advises "
                "against",
                evidence={"daemonset": workload.name, "localdns_pools": ",".join(pools)},
            )


DNS_010 = Rule(
    id="DNS-010",
    title="Both NodeLocal DNSCache and LocalDNS",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="AKS LocalDNS and the upstream NodeLocal DNSCache are both per-node DNS "
    "caches; AKS does not block running both but advises against it, since they compete "
    "for the same lookups and make DNS failures hard to trace.",
    remediation="Keep one: delete the node-local-dns DaemonSet (and its kube-dns-upstream "
    "Service and ConfigMap), or disable LocalDNS on the pools with az aks nodepool update "
    "--localdns-config pointing at a config with mode Disabled.",
    references=(
        "https://learn.microsoft.com/azure/aks/localdns-custom",
        "https://learn.microsoft.com/azure/aks/dns-concepts",
    ),
    data_source=DataSource.BOTH,
    reads=(inventory("cluster"), report("cni", "daemonsets.apps/v1")),
    check=_nodelocal_and_localdns,
)


# -- DNS-011 -----------------------------------------------------------------------------

SEARCH_DOMAIN_ZONES = ("internal.cloudapp.net", "reddog.microsoft.com")
"""Zones AKS's default block answers NXDOMAIN for (search-domain expansions, A-CDT)."""


def _search_domain_block_disabled(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A ``*.server`` block for internal.cloudapp.net or reddog.microsoft.com (or below) on
    the cluster DNS port, which takes those names away from the default block's NXDOMAIN
    template (domain.md §5 DNS-011)."""
    for fragment in view.coredns.loaded(FragmentKind.SERVER):
        for block in fragment.blocks:
            zones = [
                (key, zone)
                for key in block.keys
                for zone in SEARCH_DOMAIN_ZONES
                if _on_cluster_dns(zone_address(key)) and zone_address(key).within(zone)
            ]
            if zones:
                yield rule.finding(
                    view,
                    resource=_custom_resource(fragment.key),
                    message=f"coredns-custom key {fragment.key} serves "
                    f"{', '.join(k for k, _ in zones)} itself, so AKS's default NXDOMAIN "
                    "answer for search-domain expansions of those names is off and they go "
                    "upstream, adding load on the VNet's DNS",
                    evidence={
                        "key": fragment.key,
                        "server_block": " ".join(block.keys),
                        "zones": ",".join(dict.fromkeys(z for _, z in zones)),
                        "line": block.line,
                    },
                )
    _require_parsed(view, FragmentKind.SERVER)


def _on_cluster_dns(address: ZoneAddress) -> bool:
    return address.transport == "dns" and address.port == "53"


DNS_011 = Rule(
    id="DNS-011",
    title="Search-domain NXDOMAIN block disabled",
    severity=audit_pb2.SEVERITY_INFO,
    rationale="Since v20241025 AKS's default CoreDNS block answers NXDOMAIN for search-domain "
    "expansions under internal.cloudapp.net and reddog.microsoft.com; a *.server block for "
    "those zones sends them upstream again, which is supported but adds load and latency.",
    remediation="Keep the block only if workloads need those names resolved by the VNet's "
    "DNS; otherwise delete the key and restart CoreDNS: "
    f"{RESTART}.",
    references=("https://learn.microsoft.com/azure/aks/coredns-troubleshoot",),
    data_source=DataSource.AGENT,
    reads=(CUSTOM_CONFIG,),
    check=_search_domain_block_disabled,
)
