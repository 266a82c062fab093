"""Gateway API rules (domain.md §5 GWA-*, §4.1): GatewayClasses, Gateways, listeners and
routes their controllers did not accept, cross-namespace references without a
ReferenceGrant, listeners open to every namespace, and CRDs that do not match the AKS
managed Gateway API installation.

Status conditions are judged only when written for the object's current spec
(``observedGeneration`` 0 — not set — or at least ``generation``); a stale
condition says nothing about the current spec. GWA-002 is the exception: a status
that lags the spec is itself the finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

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

GROUP = "gateway.networking.k8s.io"
CORE = '""'
"""The core API group as a ReferenceGrant spells it."""
GATEWAY_API = report("gateway_api", not_served_means_none=True)
"""Every GWA rule reads the agent's Gateway API objects; CRDs not installed mean none."""

REQUIRED_CONDITIONS = ("Accepted", "Programmed")
SPEC_URL = "https://gateway-api.sigs.k8s.io/reference/spec/"


# -- conditions ----------------------------------------------------------------------------


def _by_type(conditions: Iterable[report_pb2.Condition]) -> dict[str, report_pb2.Condition]:
    return {c.type: c for c in conditions}


def _current(condition: report_pb2.Condition, generation: int) -> bool:
    """Written for the object's current spec (observedGeneration unset counts as current)."""
    return condition.observed_generation == 0 or condition.observed_generation >= generation


def _current_with_status(
    conditions: Iterable[report_pb2.Condition], generation: int, wanted: Mapping[str, str]
) -> list[report_pb2.Condition]:
    """The current conditions whose status is ``wanted[type]`` (e.g. Conflicted: True)."""
    return [c for c in conditions if wanted.get(c.type) == c.status and _current(c, generation)]


def _condition_text(condition: report_pb2.Condition) -> str:
    detail = f": {condition.message}" if condition.message else ""
    return f"{condition.type}={condition.status} ({condition.reason}{detail})"


def _condition_evidence(
    evidence: dict[str, object], prefix: str, condition: report_pb2.Condition
) -> None:
    evidence[f"{prefix}.status"] = condition.status
    evidence[f"{prefix}.reason"] = condition.reason
    if condition.message:
        evidence[f"{prefix}.message"] = condition.message


def _group(group: str) -> str:
    """The core API group is ""; some writers spell it "core"."""
    return "" if group.lower() == "core" else group


def _ref_text(ref: report_pb2.ObjectReference) -> str:
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    section = f"/{ref.section_name}" if ref.section_name else ""
    port = f":{ref.port}" if ref.port else ""
    return f"{ref.kind} {where}{section}{port}"


def _route_resource(route: report_pb2.Route) -> str:
    return f"{route.kind} {route.namespace}/{route.name}"


def _time(timestamp: Timestamp) -> datetime:
    return timestamp.ToDatetime(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


# -- GWA-001 ---------------------------------------------------------------------------------


def _gateway_class_not_accepted(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """GatewayClass Accepted != True: False (InvalidParameters, Unsupported), Unknown
    (Pending/Waiting: the CRD default, no controller has picked the class up) or missing
    (domain.md §5 GWA-001, §4.1)."""
    evidence_of = view.require_report().gateway_api
    users: dict[str, list[str]] = {}
    for gateway in evidence_of.gateways:
        users.setdefault(gateway.gateway_class_name, []).append(
            f"{gateway.namespace}/{gateway.name}"
        )
    for gateway_class in evidence_of.gateway_classes:
        accepted = _by_type(gateway_class.conditions).get("Accepted")
        if accepted is not None and accepted.status == "True":
            continue
        gateways = users.get(gateway_class.name, [])
        evidence: dict[str, object] = {
            "controller_name": gateway_class.controller_name,
            "gateways": len(gateways),
        }
        if accepted is None:
            evidence["accepted.status"] = "missing"
            state = "has no Accepted condition"
        else:
            _condition_evidence(evidence, "accepted", accepted)
            evidence["accepted.observed_generation"] = accepted.observed_generation
            state = f"is not accepted: {_condition_text(accepted)}"
        if accepted is None or accepted.status == "Unknown":
            state += (
                f"; no controller named {gateway_class.controller_name or '(none)'} has "
                "reconciled it"
            )
        used = f"; used by {', '.join(gateways)}" if gateways else ""
        yield rule.finding(
            view,
            resource=f"GatewayClass {gateway_class.name}",
            message=f"GatewayClass {gateway_class.name} {state}{used}",
            evidence=evidence,
        )


GWA_001 = Rule(
    id="GWA-001",
    title="GatewayClass not accepted",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A GatewayClass its controller has not accepted provisions nothing: every "
    "Gateway of that class stays unprogrammed. Accepted=Unknown with reason Pending/Waiting "
    "is the CRD's default, so it means no controller with the class's controllerName runs in "
    "the cluster.",
    remediation="Check spec.controllerName against the installed controller (AGC: "
    "alb.networking.azure.io/alb-controller; app routing: approuting-istio) and that the "
    "controller runs; for InvalidParameters fix the parametersRef; delete classes no "
    "controller serves.",
    references=(
        f"{SPEC_URL}#gatewayclassconditiontype",
        "https://learn.microsoft.com/azure/aks/managed-gateway-api",
    ),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_gateway_class_not_accepted,
)


# -- GWA-002 ---------------------------------------------------------------------------------


def _gateway_not_ready(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Gateway Accepted or Programmed not True, missing, or True only for an older
    generation, for longer than the grace period (domain.md §5 GWA-002, GWAPI).

    The time runs from the condition's lastTransitionTime, never before the Gateway's
    creationTimestamp: the CRD default status ("Waiting for controller", which is what a
    Gateway whose class no controller owns keeps) carries 1970-01-01 as its transition time.
    Ages are measured against the report's gathered_at.
    """
    agent_report = view.require_report()
    if not agent_report.HasField("gathered_at"):
        raise NotAssessed("the agent report carries no gathered_at time")
    gathered_at = _time(agent_report.gathered_at)
    grace = rule.threshold("grace_seconds", settings)
    timeless: set[str] = set()
    for gateway in agent_report.gateway_api.gateways:
        stuck = []
        for condition_type, condition in _failing_conditions(gateway):
            since = _since(gateway, condition)
            if since is None:
                timeless.add(f"{gateway.namespace}/{gateway.name}")
                continue
            age = (gathered_at - since).total_seconds()
            if age > grace:
                stuck.append((condition_type, condition, since, age))
        if stuck:
            yield _not_ready_finding(rule, view, gateway, stuck)
    if timeless:
        raise NotAssessed(
            f"Gateways {', '.join(sorted(timeless))} are not accepted/programmed but the "
            "report has neither a condition lastTransitionTime nor a creationTimestamp for "
            "them: how long they have been so is unknown"
        )


def _failing_conditions(
    gateway: report_pb2.Gateway,
) -> Iterator[tuple[str, report_pb2.Condition | None]]:
    """(type, condition) of each required condition that is missing, not True, or True for
    an older generation than the Gateway's."""
    by_type = _by_type(gateway.conditions)
    for condition_type in REQUIRED_CONDITIONS:
        condition = by_type.get(condition_type)
        if condition is None or condition.status != "True" or _lags(gateway, condition):
            yield condition_type, condition


def _lags(gateway: report_pb2.Gateway, condition: report_pb2.Condition) -> bool:
    return 0 < condition.observed_generation < gateway.generation


def _since(gateway: report_pb2.Gateway, condition: report_pb2.Condition | None) -> datetime | None:
    """When the condition took its state: its transition time, but not before the
    Gateway existed (epoch transition times are the CRD default, not a transition)."""
    moments = []
    if condition is not None and condition.last_transition_time.seconds > 0:
        moments.append(_time(condition.last_transition_time))
    if gateway.created_at.seconds > 0:
        moments.append(_time(gateway.created_at))
    return max(moments) if moments else None


def _not_ready_finding(
    rule: Rule,
    view: ClusterView,
    gateway: report_pb2.Gateway,
    stuck: list[tuple[str, report_pb2.Condition | None, datetime, float]],
) -> audit_pb2.Finding:
    evidence: dict[str, object] = {
        "gateway_class": gateway.gateway_class_name,
        "generation": gateway.generation,
    }
    if gateway.created_at.seconds > 0:
        evidence["created_at"] = _iso(_time(gateway.created_at))
    parts = []
    for condition_type, condition, since, age in stuck:
        prefix = condition_type.lower()
        when = f"since {_iso(since)}, {_duration(age)} before the report"
        evidence[f"{prefix}.since"] = _iso(since)
        evidence[f"{prefix}.seconds"] = int(age)
        if condition is None:
            evidence[f"{prefix}.status"] = "missing"
            parts.append(f"no {condition_type} condition {when}")
            continue
        evidence[f"{prefix}.status"] = condition.status
        evidence[f"{prefix}.reason"] = condition.reason
        evidence[f"{prefix}.observed_generation"] = condition.observed_generation
        if condition.status == "True":
            parts.append(
                f"{condition_type}=True only for generation {condition.observed_generation} of "
                f"{gateway.generation} (the controller has not processed the current spec) {when}"
            )
        else:
            parts.append(f"{_condition_text(condition)} {when}")
    message = (
        f"Gateway {gateway.namespace}/{gateway.name} (class "
        f"{gateway.gateway_class_name or '?'}) is not ready: {'; '.join(parts)}"
    )
    by_type = _by_type(gateway.conditions)
    if all(_untouched(by_type.get(t)) for t in REQUIRED_CONDITIONS):
        message += (
            f"; no controller has written its status: no controller owns GatewayClass "
            f"{gateway.gateway_class_name or '?'}, or the class does not exist"
        )
    return rule.finding(
        view, resource=f"{gateway.namespace}/{gateway.name}", message=message, evidence=evidence
    )


def _untouched(condition: report_pb2.Condition | None) -> bool:
    """Missing, or still the CRD default (Unknown, never observed by a controller)."""
    return condition is None or (
        condition.status == "Unknown" and condition.observed_generation == 0
    )


GWA_002 = Rule(
    id="GWA-002",
    title="Gateway not accepted/programmed",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A Gateway that its controller has not accepted or programmed serves no "
    "traffic: routes attached to it are unreachable until the cause in the condition's "
    "reason is fixed. A Gateway still carrying the CRD default status (Pending, 'Waiting for "
    "controller') has no controller; one whose status is for an older generation runs a spec "
    "other than the one applied.",
    remediation="Read the condition's reason: Invalid/ListenersNotValid means the spec must "
    "change; AddressNotAssigned or NoResources means the controller could not provision the "
    "data plane (for AGC check the ALB association and the controller identity's federated "
    "credential); Pending or no status means no controller owns the GatewayClass (kubectl get "
    "gatewayclass; check the controller's pods and logs).",
    references=(
        f"{SPEC_URL}#gatewayconditiontype",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/troubleshooting-guide",
    ),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_gateway_not_ready,
    thresholds=(
        Threshold(
            "grace_seconds",
            300,
            "Seconds a Gateway may stay not Accepted / not Programmed (or without status, or "
            "with status for an older generation) before the rule fires; 5 minutes covers a "
            "controller provisioning a load balancer address.",
        ),
    ),
)


# -- GWA-003 ---------------------------------------------------------------------------------

LISTENER_PROBLEMS = {"Conflicted": "True", "ResolvedRefs": "False", "Accepted": "False"}
"""Listener condition -> the status that is a problem (domain.md §5 GWA-003)."""


def _listener_problems(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Listener Conflicted=True, ResolvedRefs=False or Accepted=False for the Gateway's
    current generation, one finding per listener (domain.md §5 GWA-003)."""
    for gateway in view.require_report().gateway_api.gateways:
        specs = {listener.name: listener for listener in gateway.listeners}
        for status in gateway.listener_statuses:
            bad = _current_with_status(status.conditions, gateway.generation, LISTENER_PROBLEMS)
            if not bad:
                continue
            evidence: dict[str, object] = {"listener": status.name}
            listener = specs.get(status.name)
            if listener is not None:
                evidence["protocol"] = listener.protocol
                evidence["port"] = listener.port
                if listener.hostname:
                    evidence["hostname"] = listener.hostname
            for condition in bad:
                _condition_evidence(evidence, condition.type.lower(), condition)
            yield rule.finding(
                view,
                resource=f"{gateway.namespace}/{gateway.name}/{status.name}",
                message=f"listener {status.name} of Gateway {gateway.namespace}/{gateway.name} "
                f"is rejected or degraded: {'; '.join(map(_condition_text, bad))}",
                evidence=evidence,
            )


GWA_003 = Rule(
    id="GWA-003",
    title="Listener conflict/unresolved refs",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A conflicted or not accepted listener is not served (HostnameConflict, "
    "ProtocolConflict, PortUnavailable, UnsupportedProtocol); one with unresolved references "
    "(InvalidCertificateRef, RefNotPermitted, InvalidRouteKinds) serves no TLS or admits no "
    "routes of the kinds asked for.",
    remediation="Follow the listener condition's reason: give conflicting listeners distinct "
    "hostnames or ports, create the referenced certificate Secret (or a ReferenceGrant in its "
    "namespace), and list only route kinds the listener's protocol supports.",
    references=(f"{SPEC_URL}#listenerconditiontype",),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_listener_problems,
)


# -- GWA-004 / GWA-005 -----------------------------------------------------------------------


def _parent_key(ref: report_pb2.ObjectReference) -> tuple[str, str, str, str, str, int]:
    return (_group(ref.group), ref.kind, ref.namespace, ref.name, ref.section_name, ref.port)


def _route_rejected(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A route whose ``status.parents[]`` says Accepted=False, or a ``spec.parentRefs``
    entry no controller has answered in ``status.parents`` (domain.md §5 GWA-004)."""
    for route in view.require_report().gateway_api.routes:
        evidence: dict[str, object] = {}
        parts = []
        answered = {_parent_key(parent.parent_ref) for parent in route.parents}
        for parent in route.parents:
            rejected = _current_with_status(
                parent.conditions, route.generation, {"Accepted": "False"}
            )
            for condition in rejected:
                label = _ref_text(parent.parent_ref)
                _condition_evidence(evidence, f"parent.{label}", condition)
                if parent.controller_name:
                    evidence[f"parent.{label}.controller"] = parent.controller_name
                parts.append(f"{label} rejects it: {_condition_text(condition)}")
        unanswered = [ref for ref in route.parent_refs if _parent_key(ref) not in answered]
        for ref in unanswered:
            evidence[f"parent.{_ref_text(ref)}.status"] = "no status"
            parts.append(
                f"{_ref_text(ref)} has no entry in status.parents (no controller attached the "
                "route: the parent does not exist or its class has no controller)"
            )
        if parts:
            yield rule.finding(
                view,
                resource=_route_resource(route),
                message=f"{_route_resource(route)} is not attached: {'; '.join(parts)}",
                evidence=evidence,
            )


GWA_004 = Rule(
    id="GWA-004",
    title="Route rejected by parent",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A route its parent Gateway rejected (NotAllowedByListeners, "
    "NoMatchingListenerHostname, NoMatchingParent) or never answered carries no traffic, and "
    "ExternalDNS does not publish its hostnames.",
    remediation="Match the route to a listener: its namespace must be allowed by the "
    "listener's allowedRoutes, its hostnames must intersect the listener's hostname, its kind "
    "must be allowed, and parentRefs (name, namespace, sectionName, port) must name an "
    "existing Gateway and listener.",
    references=(f"{SPEC_URL}#routeconditiontype",),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_route_rejected,
)


def _route_backends_unresolved(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A route parent status with ResolvedRefs=False for the current generation
    (RefNotPermitted, BackendNotFound, InvalidKind, UnsupportedProtocol; domain.md §5
    GWA-005)."""
    for route in view.require_report().gateway_api.routes:
        evidence: dict[str, object] = {}
        parts = []
        for parent in route.parents:
            unresolved = _current_with_status(
                parent.conditions, route.generation, {"ResolvedRefs": "False"}
            )
            for condition in unresolved:
                label = _ref_text(parent.parent_ref)
                _condition_evidence(evidence, f"parent.{label}", condition)
                parts.append(f"{label}: {_condition_text(condition)}")
        if parts:
            evidence["backends"] = ", ".join(_ref_text(ref) for ref in route.backend_refs)
            yield rule.finding(
                view,
                resource=_route_resource(route),
                message=f"{_route_resource(route)} has backends that do not resolve, so "
                f"requests to them fail (AGC answers 500): {'; '.join(parts)}",
                evidence=evidence,
            )


GWA_005 = Rule(
    id="GWA-005",
    title="Route backends unresolved",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Requests routed to a backend that does not resolve fail: the implementation "
    "answers 500 for that backend's share of the traffic (AGC troubleshooting guide).",
    remediation="Per reason: BackendNotFound — create the Service or fix its name/port; "
    "RefNotPermitted — add a ReferenceGrant in the backend's namespace; InvalidKind — "
    "reference a Service (or a kind the implementation supports); UnsupportedProtocol — fix "
    "the Service port's appProtocol.",
    references=(
        f"{SPEC_URL}#routeconditionreason",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/troubleshooting-guide",
    ),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_route_backends_unresolved,
)


# -- GWA-006 ---------------------------------------------------------------------------------


def _granted(
    grants: Iterable[report_pb2.ReferenceGrant],
    source: tuple[str, str, str],
    target: report_pb2.ObjectReference,
) -> bool:
    """Whether a ReferenceGrant in the target's namespace lets ``source`` (group, kind,
    namespace) refer to ``target``: from{group,kind,namespace}, to{group,kind,name?}."""
    group, kind, namespace = source
    for grant in grants:
        if grant.namespace != target.namespace:
            continue
        allowed_from = any(
            (_group(f.group), f.kind, f.namespace) == (group, kind, namespace)
            for f in getattr(grant, "from")
        )
        allowed_to = any(
            _group(t.group) == _group(target.group)
            and t.kind == target.kind
            and (not t.name or t.name == target.name)
            for t in grant.to
        )
        if allowed_from and allowed_to:
            return True
    return False


def _references(
    evidence_of: report_pb2.GatewayApi,
) -> Iterator[tuple[str, tuple[str, str, str], list[report_pb2.ObjectReference]]]:
    """(resource, (group, kind, namespace) of the referrer, its cross-namespace refs) for
    route backendRefs and Gateway listener certificateRefs."""
    for route in evidence_of.routes:
        refs = [ref for ref in route.backend_refs if ref.namespace != route.namespace]
        if refs:
            yield _route_resource(route), (GROUP, route.kind, route.namespace), refs
    for gateway in evidence_of.gateways:
        refs = [
            ref
            for listener in gateway.listeners
            for ref in listener.certificate_refs
            if ref.namespace != gateway.namespace
        ]
        if refs:
            yield (
                f"Gateway {gateway.namespace}/{gateway.name}",
                (GROUP, "Gateway", gateway.namespace),
                refs,
            )


def _cross_namespace_without_grant(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A backendRef or certificateRef into another namespace that no ReferenceGrant there
    permits (domain.md §5 GWA-006); v1 and v1beta1 grants are alike in the report."""
    evidence_of = view.require_report().gateway_api
    grants = list(evidence_of.reference_grants)
    for resource, source, refs in _references(evidence_of):
        missing: dict[str, report_pb2.ObjectReference] = {}
        for ref in refs:
            if not _granted(grants, source, ref):
                missing.setdefault(_ref_text(ref), ref)
        if not missing:
            continue
        group, kind, namespace = source
        needed = [
            f"in namespace {ref.namespace}: from {{group: {group}, kind: {kind}, namespace: "
            f"{namespace}}} to {{group: {_group(ref.group) or CORE}, kind: {ref.kind}, "
            f"name: {ref.name}}}"
            for ref in missing.values()
        ]
        yield rule.finding(
            view,
            resource=resource,
            message=f"{resource} refers across namespaces without a ReferenceGrant, so the "
            f"implementation must refuse the reference (RefNotPermitted): needs a grant "
            f"{'; '.join(needed)}",
            evidence={
                "references": ", ".join(missing),
                "target_namespaces": ",".join(sorted({r.namespace for r in missing.values()})),
                "grants_in_target_namespaces": sum(
                    1 for g in grants if g.namespace in {r.namespace for r in missing.values()}
                ),
            },
        )


GWA_006 = Rule(
    id="GWA-006",
    title="Cross-namespace ref without ReferenceGrant",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Gateway API lets an object refer to a Service or Secret in another namespace "
    "only when a ReferenceGrant in that namespace allows it; without one, implementations "
    "refuse the reference (RefNotPermitted), so the backend gets no traffic or the listener "
    "no certificate.",
    remediation="Create a ReferenceGrant in the target namespace with from {group: "
    "gateway.networking.k8s.io, kind: <HTTPRoute|Gateway>, namespace: <referrer's>} and to "
    "{group: '', kind: <Service|Secret>, name: <target>}, or move the object into the "
    "referrer's namespace.",
    references=(
        f"{SPEC_URL}#referencegrant",
        "https://gateway-api.sigs.k8s.io/api-types/referencegrant/",
    ),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_cross_namespace_without_grant,
)


# -- GWA-007 ---------------------------------------------------------------------------------


def _open_to_all_namespaces(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A listener with allowedRoutes.namespaces.from == All, on any Gateway (domain.md §5
    GWA-007; narrowing to shared namespaces is left to the rule's scope settings)."""
    for gateway in view.require_report().gateway_api.gateways:
        open_listeners = [
            listener
            for listener in gateway.listeners
            if listener.allowed_routes.namespaces_from == "All"
        ]
        if not open_listeners:
            continue
        names = ", ".join(
            f"{listener.name} ({listener.protocol}/{listener.port})" for listener in open_listeners
        )
        yield rule.finding(
            view,
            resource=f"{gateway.namespace}/{gateway.name}",
            message=f"Gateway {gateway.namespace}/{gateway.name} accepts routes from every "
            f"namespace on listeners {names}: any namespace's owner can attach routes and "
            "claim its hostnames",
            evidence={
                "listeners": ",".join(listener.name for listener in open_listeners),
                "hostnames": ",".join(listener.hostname or "*" for listener in open_listeners),
                "gateway_class": gateway.gateway_class_name,
            },
        )


GWA_007 = Rule(
    id="GWA-007",
    title="Over-permissive listener",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Gateway API's role model gives the cluster operator the Gateway and the "
    "application teams their routes; a listener with allowedRoutes.namespaces.from=All lets "
    "any namespace attach routes to it and take over its hostnames. Every Gateway is judged, "
    "since which namespaces are shared cannot be told from the objects: narrow the rule with "
    "its scope settings, or disable it for clusters with one tenant.",
    remediation="Set allowedRoutes.namespaces.from: Selector with a label selector naming the "
    "namespaces allowed to attach (or Same), e.g. "
    "kubectl patch gateway <name> -n <ns> --type=json -p "
    '\'[{"op":"replace","path":"/spec/listeners/0/allowedRoutes/namespaces",'
    '"value":{"from":"Selector","selector":{"matchLabels":'
    '{"shared-gateway-access":"true"}}}}]\'',
    references=(
        "https://gateway-api.sigs.k8s.io/concepts/roles-and-personas/",
        "https://gateway-api.sigs.k8s.io/guides/multiple-ns/",
    ),
    data_source=DataSource.AGENT,
    reads=(GATEWAY_API,),
    check=_open_to_all_namespaces,
)


# -- GWA-008 ---------------------------------------------------------------------------------

MANAGED_BUNDLES = ((36, (1, 5)), (35, (1, 4)), (34, (1, 3)), (26, (1, 2)))
"""Kubernetes minor (from) -> the Gateway API bundle minor AKS's managed installation
ships: v1.2.1 for 1.26-1.33, v1.3.0 for 1.34, v1.4.1 for 1.35, v1.5.1 for 1.36+ (A-MGW)."""
BUNDLE_NAMES = {(1, 2): "v1.2.1", (1, 3): "v1.3.0", (1, 4): "v1.4.1", (1, 5): "v1.5.1"}


def _minor(version: str) -> tuple[int, int] | None:
    """(major, minor) of "v1.2.1", "1.33.2" or "1.27"; None when it does not parse."""
    parts = version.strip().lstrip("vV").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def _managed_bundle(kubernetes_minor: tuple[int, int]) -> tuple[int, int] | None:
    major, minor = kubernetes_minor
    if major != 1:
        return None
    return next((bundle for since, bundle in MANAGED_BUNDLES if minor >= since), None)


def _unmanaged_crds(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """ingressProfile.gatewayAPI.installation == Standard while experimental-channel CRDs
    are installed, or CRDs whose bundle version is not the one the managed installation
    ships for the cluster's Kubernetes minor (domain.md §5 GWA-008, §4.1)."""
    cluster = view.require_inventory()
    installation = cluster.ingress_profile.gateway_api_installation
    if installation.lower() != "standard":
        return
    evidence_of = view.require_report().gateway_api
    experimental = sorted(
        name for name, channel in evidence_of.crd_channels.items() if channel == "experimental"
    )
    version = cluster.kubernetes_version or view.require_report().cluster.kubernetes_version
    kubernetes_minor = _minor(version)
    expected = _managed_bundle(kubernetes_minor) if kubernetes_minor else None
    unparsed = sorted(
        f"{name}={bundle}"
        for name, bundle in evidence_of.crd_bundle_versions.items()
        if _minor(bundle) is None
    )
    mismatched = (
        sorted(
            f"{name}={bundle}"
            for name, bundle in evidence_of.crd_bundle_versions.items()
            if _minor(bundle) not in (None, expected)
        )
        if expected
        else []
    )
    if experimental or mismatched:
        yield _unmanaged_finding(rule, view, version, expected, experimental, mismatched)
    if evidence_of.crd_bundle_versions and kubernetes_minor is None:
        raise NotAssessed(
            f"the cluster's Kubernetes version {version or '(none)'} does not parse: the "
            "CRD bundle versions cannot be compared with the managed installation's"
        )
    if unparsed:
        raise NotAssessed(f"CRD bundle versions do not parse: {', '.join(unparsed)}")


def _unmanaged_finding(
    rule: Rule,
    view: ClusterView,
    version: str,
    expected: tuple[int, int] | None,
    experimental: list[str],
    mismatched: list[str],
) -> audit_pb2.Finding:
    evidence: dict[str, object] = {"installation": "Standard", "kubernetes_version": version}
    parts = []
    if experimental:
        evidence["experimental_crds"] = ",".join(experimental)
        parts.append(f"experimental-channel CRDs are installed ({', '.join(experimental)})")
    if mismatched and expected:
        evidence["managed_bundle"] = BUNDLE_NAMES[expected]
        evidence["mismatched_crds"] = ",".join(mismatched)
        parts.append(
            f"CRDs carry a bundle version other than the {BUNDLE_NAMES[expected]} the managed "
            f"installation ships for Kubernetes {version} ({', '.join(mismatched)})"
        )
    return rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} has the AKS managed Gateway API installation (Standard) "
        f"but {' and '.join(parts)}: these CRDs are not the managed ones",
        evidence=evidence,
    )


GWA_008 = Rule(
    id="GWA-008",
    title="Unmanaged Gateway API CRDs vs Managed install",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="The AKS managed Gateway API installation owns the standard-channel CRDs at the "
    "bundle version tied to the cluster's Kubernetes minor and upgrades them with it; "
    "experimental-channel CRDs must be removed before enabling it, and CRDs of another bundle "
    "version were installed by someone else and will be fought over or break controllers "
    "built for the managed bundle.",
    remediation="Delete the experimental or self-installed Gateway API CRDs (kubectl delete "
    "crd <name>, after backing up their objects) and let the managed installation recreate "
    "them, or disable it: az aks update --disable-gateway-api.",
    references=("https://learn.microsoft.com/azure/aks/managed-gateway-api",),
    data_source=DataSource.BOTH,
    reads=(inventory("cluster"), GATEWAY_API),
    check=_unmanaged_crds,
)
