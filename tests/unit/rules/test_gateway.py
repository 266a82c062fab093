"""Gateway API rules (GWA-*), from the published Gateway API and AGC manifests and statuses.

Objects go through the agent's converters (agent/gatherers/gateway_api.py) into the
report, as the agent would send them. The manifests carry no creationTimestamp,
generation or (except the AGC ones) status; cases add them where they need them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from netaudit.agent.gatherers import gateway_api as convert
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule, gateway
from netaudit.collector.rules.gateway import (
    GWA_001,
    GWA_002,
    GWA_003,
    GWA_004,
    GWA_005,
    GWA_006,
    GWA_007,
    GWA_008,
)
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import (
    RuleCase,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
)
from tests.rule_cases import (
    every_finding_has as evidence,
)
from tests.rule_cases import (
    reason_mentions as reason_has,
)

CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/aks-1"
)
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
EPOCH = "1970-01-01T00:00:00Z"

Document = dict[str, Any]


# -- building reports from manifests --------------------------------------------------


def manifests(relative: str, *kinds: str) -> list[Document]:
    """The documents of a gateway-api fixture (of ``kinds`` when given)."""
    return [
        d for d in k8s_documents(f"gateway-api/{relative}") if not kinds or d.get("kind") in kinds
    ]


def one(relative: str, kind: str, name: str | None = None) -> Document:
    (document,) = [
        d for d in manifests(relative, kind) if name is None or d["metadata"]["name"] == name
    ]
    return document


def status_of(relative: str) -> dict[str, Any]:
    """A published ``status:`` snippet (agc_*_status.yaml)."""
    (document,) = k8s_documents(f"gateway-api/{relative}")
    return dict(document["status"])


def report_of(documents: Iterable[Document]) -> report_pb2.Report:
    """A report whose gateway_api section holds ``documents``, converted as the agent does.
    Namespaced objects without a namespace land in ``default``, as kubectl applies them."""
    report = new_report(CLUSTER)
    evidence = report.gateway_api
    for document in documents:
        kind = document.get("kind")
        if kind != "GatewayClass":
            document.setdefault("metadata", {}).setdefault("namespace", "default")
        if kind == "GatewayClass":
            evidence.gateway_classes.append(convert.gateway_class(document))
        elif kind == "Gateway":
            evidence.gateways.append(convert.gateway(document))
        elif kind in ROUTE_KINDS:
            evidence.routes.append(convert.route(document, kind))
        elif kind == "ReferenceGrant":
            evidence.reference_grants.append(convert.reference_grant(document))
    return report


def facts(*documents: Document) -> audit_pb2.ClusterFacts:
    return facts_of(report=report_of(documents))


def created(document: Document, when: str, generation: int = 1) -> Document:
    document["metadata"]["creationTimestamp"] = when
    document["metadata"]["generation"] = generation
    return document


def condition(
    kind: str, status: str, reason: str, since: str = "2026-11-01T00:00:00Z", observed: int = 1
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": "",
        "lastTransitionTime": since,
        "observedGeneration": observed,
    }


# -- running cases before the rules are registered ------------------------------------

FAMILY: dict[str, Rule] = {
    rule.id: rule
    for rule in (GWA_001, GWA_002, GWA_003, GWA_004, GWA_005, GWA_006, GWA_007, GWA_008)
}


def settings_of(config: Mapping[str, Any]) -> RuleSettings:
    """Per-rule settings without the registry check (the family may not be registered yet)."""
    return RuleSettings.model_construct(
        per_rule={rule_id: PerRuleSettings.model_validate(v) for rule_id, v in config.items()}
    )


def outcome(
    rule: Rule, cluster: audit_pb2.ClusterFacts, config: Mapping[str, Any] | None = None
) -> RuleOutcome:
    return evaluate_rule(rule, ClusterView(cluster), settings_of(config or {}))


# -- GWA-002 ---------------------------------------------------------------------------


def agc_gateway(
    status: dict[str, Any] | None = None, *, when: str = "2023-06-19T21:04:00Z", generation: int = 1
) -> Document:
    """The AGC managed-mode Gateway with the published (healthy) status unless given one."""
    gateway = created(one("agc_gateway_alb-managed.yaml", "Gateway"), when, generation)
    gateway["status"] = status_of("agc_gateway_status.yaml") if status is None else status
    return gateway


def not_programmed(since: str = "2026-11-01T00:00:00Z", observed: int = 1) -> dict[str, Any]:
    """The published status with Programmed=False/AddressNotAssigned (an AGC failure of AGC-TS)."""
    status = status_of("agc_gateway_status.yaml")
    status["conditions"][1].update(
        status="False",
        reason="AddressNotAssigned",
        message="federated credential error AADSTS70021",
        lastTransitionTime=since,
        observedGeneration=observed,
    )
    return status


def crd_default_status() -> dict[str, Any]:
    """What the API server stores for a Gateway no controller has touched (GWAPI CRD default)."""
    return {
        "conditions": [
            {"type": t, "status": "Unknown", "reason": "Pending",
             "message": "Waiting for controller", "lastTransitionTime": EPOCH}
            for t in ("Accepted", "Programmed")
        ]
    }  # fmt: skip


def programmed_false_for_weeks(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.resource == "test-infra/gateway-01"
    assert finding.evidence["programmed.reason"] == "AddressNotAssigned"
    assert finding.evidence["programmed.status"] == "False"
    assert finding.evidence["programmed.since"] == "2026-11-01T00:00:00Z"
    assert finding.evidence["programmed.seconds"] == str(26 * 86400 + 12 * 3600)
    assert "accepted.status" not in finding.evidence
    assert "26d 12h before the report" in finding.message


def no_controller(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["accepted.reason"] == "Pending"
    assert finding.evidence["programmed.observed_generation"] == "0"
    # the 1970 default transition time is not a transition: the clock runs from creation
    assert finding.evidence["programmed.since"] == "2026-11-27T10:00:00Z"
    assert "no controller" in finding.message


def lagging(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["generation"] == "2"
    assert finding.evidence["accepted.observed_generation"] == "1"
    assert finding.evidence["accepted.status"] == "True"
    assert "generation 1 of 2" in finding.message


def both_missing(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["accepted.status"] == "missing"
    assert finding.evidence["programmed.status"] == "missing"
    assert finding.evidence["programmed.since"] == "2026-11-20T00:00:00Z"


def only_programmed_missing(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["programmed.status"] == "missing"
    assert "accepted.status" not in finding.evidence
    assert "no controller" not in finding.message  # Accepted=True: a controller is there


def without_programmed() -> dict[str, Any]:
    status = status_of("agc_gateway_status.yaml")
    status["conditions"] = [c for c in status["conditions"] if c["type"] != "Programmed"]
    return status


GWA_002_CASES = [
    RuleCase(
        "GWA-002",
        "agc-programmed-false-for-weeks",
        lambda: facts(agc_gateway(not_programmed())),
        Outcome.FINDINGS,
        check=programmed_false_for_weeks,
    ),
    RuleCase(
        "GWA-002", "agc-published-healthy-status", lambda: facts(agc_gateway()), Outcome.PASSED
    ),
    RuleCase(
        "GWA-002",
        "within-the-5-minute-grace",
        lambda: facts(agc_gateway(not_programmed("2026-11-27T11:56:00Z"))),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-002",
        "grace-from-settings",
        lambda: facts(agc_gateway(not_programmed("2026-11-27T11:56:00Z"))),
        Outcome.FINDINGS,
        settings={"GWA-002": {"grace_seconds": 60}},
        check=evidence("programmed.seconds", "240"),
    ),
    RuleCase(
        "GWA-002",
        "crd-default-status-no-controller-owns-the-class",
        lambda: facts(agc_gateway(crd_default_status(), when="2026-11-27T10:00:00Z")),
        Outcome.FINDINGS,
        check=no_controller,
    ),
    RuleCase(
        "GWA-002",
        "crd-default-status-on-a-gateway-created-a-minute-ago",
        lambda: facts(agc_gateway(crd_default_status(), when="2026-11-27T11:59:00Z")),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-002",
        "no-status-at-all",
        lambda: facts(agc_gateway({}, when="2026-11-20T00:00:00Z")),
        Outcome.FINDINGS,
        check=both_missing,
    ),
    RuleCase(
        "GWA-002",
        "no-status-yet-on-a-young-gateway",
        lambda: facts(agc_gateway({}, when="2026-11-27T11:58:00Z")),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-002",
        "programmed-condition-missing",
        lambda: facts(agc_gateway(without_programmed())),
        Outcome.FINDINGS,
        check=only_programmed_missing,
    ),
    RuleCase(
        "GWA-002",
        "status-lags-the-spec-for-weeks",
        lambda: facts(agc_gateway(generation=2)),
        Outcome.FINDINGS,
        check=lagging,
    ),
    RuleCase(
        "GWA-002",
        "gateway-api-crds-not-installed",
        lambda: facts_of(report=not_served(report_of([]))),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-002",
        "gateways-forbidden",
        lambda: facts_of(report=forbidden(report_of([agc_gateway(not_programmed())]))),
        Outcome.NOT_ASSESSED,
        check=reason_has("forbidden"),
    ),
    RuleCase("GWA-002", "no-agent-report", lambda: facts_of(), Outcome.NOT_ASSESSED),
    RuleCase(
        "GWA-002",
        "report-without-gathered-at",
        lambda: without_gathered_at(facts(agc_gateway(not_programmed()))),
        Outcome.NOT_ASSESSED,
        check=reason_has("gathered_at"),
    ),
    RuleCase(
        "GWA-002",
        "no-status-and-no-creation-time",
        lambda: facts(one("agc_gateway_alb-managed.yaml", "Gateway")),
        Outcome.NOT_ASSESSED,
        check=reason_has("creationTimestamp"),
    ),
]


def not_served(report: report_pb2.Report) -> report_pb2.Report:
    for plural in convert.ALL_PLURALS:
        report.gaps.add(
            gatherer="gateway_api",
            resource=f"{plural}.{convert.GROUP}",
            reason="not_found",
            message="not served at v1, v1beta1 (CRD not installed)",
        )
    return report


def forbidden(report: report_pb2.Report) -> report_pb2.Report:
    report.gaps.add(
        gatherer="gateway_api",
        resource="gateways.gateway.networking.k8s.io/v1",
        reason="forbidden",
        message="gateways is forbidden",
    )
    return report


def without_gathered_at(cluster: audit_pb2.ClusterFacts) -> audit_pb2.ClusterFacts:
    cluster.report.ClearField("gathered_at")
    return cluster


def test_both_conditions_failing_make_one_finding() -> None:
    status = not_programmed()
    status["conditions"][0].update(status="Unknown", reason="Pending")
    (finding,) = outcome(GWA_002, facts(agc_gateway(status))).findings
    assert (finding.evidence["accepted.reason"], finding.evidence["programmed.reason"]) == (
        "Pending",
        "AddressNotAssigned",
    )


def test_a_gateway_without_time_does_not_hide_the_others() -> None:
    timeless = one("agc_gateway_alb-managed.yaml", "Gateway")
    timeless["metadata"]["name"] = "timeless"
    result = outcome(GWA_002, facts(timeless, agc_gateway(not_programmed())))
    assert result.outcome is Outcome.FINDINGS
    assert [f.resource for f in result.findings] == ["test-infra/gateway-01"]
    assert "test-infra/timeless" in result.reason


# -- GWA-001 ---------------------------------------------------------------------------


def example_class(status: dict[str, Any] | None) -> list[Document]:
    """The basic-http example: GatewayClass ``example``, Gateway ``my-gateway``, HTTPRoute."""
    documents = manifests("examples_basic-http.yaml")
    if status is not None:
        documents[0]["status"] = status
    return documents


def class_condition(status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "conditions": [
            {"type": "Accepted", "status": status, "reason": reason, "message": message,
             "lastTransitionTime": EPOCH if reason == "Waiting" else "2026-11-01T00:00:00Z",
             **({} if reason == "Waiting" else {"observedGeneration": 1})}
        ]
    }  # fmt: skip


def waiting_for_controller(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "GatewayClass example"
    assert finding.evidence["controller_name"] == "acme.io/gateway-controller"
    assert finding.evidence["accepted.reason"] == "Waiting"
    assert finding.evidence["gateways"] == "1"
    assert "no controller named acme.io/gateway-controller" in finding.message
    assert "default/my-gateway" in finding.message


GWA_001_CASES = [
    RuleCase(
        "GWA-001",
        # the CRD default status (GWAPI): no controller has reconciled the class
        "crd-default-waiting-for-controller",
        lambda: facts(
            *example_class(class_condition("Unknown", "Waiting", "Waiting for controller"))
        ),
        Outcome.FINDINGS,
        check=waiting_for_controller,
    ),
    RuleCase(
        "GWA-001",
        "invalid-parameters",
        lambda: facts(*example_class(class_condition("False", "InvalidParameters"))),
        Outcome.FINDINGS,
        check=evidence("accepted.status", "False"),
    ),
    RuleCase(
        "GWA-001",
        "no-status",
        lambda: facts(*example_class(None)),
        Outcome.FINDINGS,
        check=evidence("accepted.status", "missing"),
    ),
    RuleCase(
        "GWA-001",
        "accepted-by-its-controller",
        lambda: facts(*example_class(class_condition("True", "Accepted"))),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-001",
        "gateway-api-crds-not-installed",
        lambda: facts_of(report=not_served(report_of([]))),
        Outcome.PASSED,
    ),
]


# -- GWA-003 ---------------------------------------------------------------------------


def listener_status(name: str, *conditions: dict[str, Any]) -> dict[str, Any]:
    """A listener status as controllers write it (hand-made from the §4.1 reasons)."""
    return {"listeners": [{"name": name, "attachedRoutes": 0, "conditions": list(conditions)}]}


def secret_without_grant(observed: int = 1, generation: int = 1) -> Document:
    gateway = created(
        one("conformance_gateway-secret-missing-reference-grant.yaml", "Gateway"),
        "2026-11-01T00:00:00Z",
        generation,
    )
    gateway["status"] = listener_status(
        "https",
        condition("ResolvedRefs", "False", "RefNotPermitted", observed=observed),
        condition("Programmed", "False", "Invalid", observed=observed),
    )
    return gateway


def invalid_route_kind() -> Document:
    gateway = one("conformance_gateway-invalid-route-kind.yaml", "Gateway",
                  "gateway-only-invalid-route-kind")  # fmt: skip
    gateway["status"] = listener_status(
        "http",
        condition("ResolvedRefs", "False", "InvalidRouteKinds"),
        condition("Accepted", "True", "Accepted"),
    )
    return gateway


def ref_not_permitted(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert (
        finding.resource == "gateway-conformance-infra/gateway-secret-missing-reference-grant/https"
    )
    assert finding.evidence["resolvedrefs.reason"] == "RefNotPermitted"
    assert (finding.evidence["protocol"], finding.evidence["port"]) == ("HTTPS", "443")
    assert "accepted.status" not in finding.evidence


GWA_003_CASES = [
    RuleCase(
        "GWA-003",
        "certificate-ref-not-permitted",
        lambda: facts(secret_without_grant()),
        Outcome.FINDINGS,
        check=ref_not_permitted,
    ),
    RuleCase(
        "GWA-003",
        "invalid-route-kinds",
        lambda: facts(invalid_route_kind()),
        Outcome.FINDINGS,
        check=evidence("resolvedrefs.reason", "InvalidRouteKinds"),
    ),
    RuleCase(
        "GWA-003", "agc-published-listener-status", lambda: facts(agc_gateway()), Outcome.PASSED
    ),
    RuleCase(
        "GWA-003",
        "condition-for-an-older-generation",
        lambda: facts(secret_without_grant(observed=1, generation=2)),
        Outcome.PASSED,
    ),
]


def test_a_conflicted_listener_is_reported_with_its_reason() -> None:
    gateway = agc_gateway()
    gateway["status"]["listeners"][0]["name"] = "http"
    gateway["status"]["listeners"][0]["conditions"].append(
        condition("Conflicted", "True", "HostnameConflict", observed=1)
    )
    (finding,) = outcome(GWA_003, facts(gateway)).findings
    assert finding.evidence["conflicted.reason"] == "HostnameConflict"
    assert "Conflicted=True (HostnameConflict)" in finding.message


# -- GWA-004 / GWA-005 -------------------------------------------------------------------


def route_status(parent: dict[str, Any], *conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "parents": [
            {
                "parentRef": parent,
                "controllerName": "example.net/gateway-controller",
                "conditions": list(conditions),
            }
        ]
    }


def cross_namespace_parent() -> Document:
    """The conformance route whose parent does not allow its namespace, with the status the
    conformance test expects (Accepted=False/NotAllowedByListeners)."""
    route = one("conformance_httproute-invalid-cross-namespace-parent-ref.yaml", "HTTPRoute")
    route["status"] = route_status(
        route["spec"]["parentRefs"][0],
        condition("Accepted", "False", "NotAllowedByListeners"),
        condition("ResolvedRefs", "True", "ResolvedRefs"),
    )
    return route


def agc_route() -> Document:
    route = one("agc_httproute_traffic-split.yaml", "HTTPRoute")
    route["status"] = status_of("agc_httproute_status.yaml")
    return route


def unresolved_backend() -> Document:
    route = one("conformance_gateway-with-attached-routes.yaml", "HTTPRoute", "http-route-4")
    route["status"] = route_status(
        {"group": "gateway.networking.k8s.io", "kind": "Gateway",
         "name": "unresolved-gateway-with-one-attached-unresolved-route",
         "namespace": "gateway-conformance-infra", "sectionName": "tls"},
        condition("Accepted", "True", "Accepted"),
        condition("ResolvedRefs", "False", "BackendNotFound"),
    )  # fmt: skip
    return route


def not_allowed(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert (
        finding.resource
        == "HTTPRoute gateway-conformance-web-backend/invalid-cross-namespace-parent-ref"
    )
    key = "parent.Gateway gateway-conformance-infra/same-namespace"
    assert finding.evidence[f"{key}.reason"] == "NotAllowedByListeners"
    assert finding.evidence[f"{key}.controller"] == "example.net/gateway-controller"


def unanswered(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "HTTPRoute default/http-app-1"
    assert finding.evidence["parent.Gateway default/my-gateway.status"] == "no status"


def no_matching_section() -> Document:
    route = one("conformance_tlsroute-invalid-no-matching-listener.yaml", "TLSRoute",
                "tlsroute-no-matching-section-name")  # fmt: skip
    route["status"] = route_status(
        route["spec"]["parentRefs"][0], condition("Accepted", "False", "NoMatchingParent")
    )
    return route


GWA_004_CASES = [
    RuleCase(
        "GWA-004",
        "not-allowed-by-listeners",
        lambda: facts(cross_namespace_parent()),
        Outcome.FINDINGS,
        check=not_allowed,
    ),
    RuleCase(
        "GWA-004",
        "tlsroute-no-matching-section-name",
        lambda: facts(no_matching_section()),
        Outcome.FINDINGS,
        check=evidence(
            "parent.Gateway gateway-conformance-infra/gateway-tlsroute-tls-passthrough-only"
            "/nonexistent-listener.reason",
            "NoMatchingParent",
        ),
    ),
    RuleCase(
        "GWA-004",
        "parent-never-answered",
        lambda: facts(*manifests("examples_basic-http.yaml", "HTTPRoute")),
        Outcome.FINDINGS,
        check=unanswered,
    ),
    RuleCase("GWA-004", "agc-published-route-status", lambda: facts(agc_route()), Outcome.PASSED),
]

GWA_005_CASES = [
    RuleCase(
        "GWA-005",
        "backend-not-found",
        lambda: facts(unresolved_backend()),
        Outcome.FINDINGS,
        check=evidence(
            "parent.Gateway gateway-conformance-infra/"
            "unresolved-gateway-with-one-attached-unresolved-route/tls.reason",
            "BackendNotFound",
        ),
    ),
    RuleCase("GWA-005", "agc-published-route-status", lambda: facts(agc_route()), Outcome.PASSED),
    RuleCase(
        "GWA-005",
        "rejected-but-resolved",
        lambda: facts(cross_namespace_parent()),
        Outcome.PASSED,
    ),
]


def test_a_rejected_route_status_for_an_older_generation_is_not_judged() -> None:
    route = created(cross_namespace_parent(), "2026-11-01T00:00:00Z", generation=3)
    route["spec"]["parentRefs"][0]["namespace"] = "gateway-conformance-infra"
    assert outcome(GWA_004, facts(route)).outcome is Outcome.PASSED


# -- GWA-006 ---------------------------------------------------------------------------


def grant_and_route() -> list[Document]:
    return manifests("conformance_httproute-reference-grant.yaml")


def without_grant() -> list[Document]:
    return manifests("conformance_httproute-reference-grant.yaml", "HTTPRoute")


def missing_backend_grant(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "HTTPRoute gateway-conformance-infra/reference-grant"
    assert (
        finding.evidence["references"] == "Service gateway-conformance-web-backend/web-backend:8080"
    )
    assert finding.evidence["grants_in_target_namespaces"] == "0"
    assert (
        "from {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: "
        'gateway-conformance-infra} to {group: "", kind: Service, name: web-backend}'
    ) in finding.message


def missing_secret_grant(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert (
        finding.resource
        == "Gateway gateway-conformance-infra/gateway-secret-missing-reference-grant"
    )
    assert finding.evidence["references"] == "Secret gateway-conformance-web-backend/certificate"


GWA_006_CASES = [
    RuleCase(
        "GWA-006",
        "backend-in-another-namespace-without-grant",
        lambda: facts(*without_grant()),
        Outcome.FINDINGS,
        check=missing_backend_grant,
    ),
    RuleCase(
        "GWA-006",
        "certificate-in-another-namespace-without-grant",
        lambda: facts(one("conformance_gateway-secret-missing-reference-grant.yaml", "Gateway")),
        Outcome.FINDINGS,
        check=missing_secret_grant,
    ),
    RuleCase(
        "GWA-006", "backend-permitted-by-grant", lambda: facts(*grant_and_route()), Outcome.PASSED
    ),
    RuleCase("GWA-006", "same-namespace-backends", lambda: facts(agc_route()), Outcome.PASSED),
]


@pytest.mark.parametrize(
    ("alter", "permitted"),
    [
        (lambda g: None, True),
        (lambda g: g.update(apiVersion="gateway.networking.k8s.io/v1beta1"), True),
        (lambda g: g["spec"]["to"][0].pop("name"), True),  # no name: every Service
        (lambda g: g["spec"]["to"][0].update(group="core"), True),
        (lambda g: g["spec"]["to"][0].update(name="other-backend"), False),
        (lambda g: g["spec"]["from"][0].update(kind="GRPCRoute"), False),
        (lambda g: g["spec"]["from"][0].update(namespace="elsewhere"), False),
        (lambda g: g["metadata"].update(namespace="gateway-conformance-infra"), False),
    ],
)
def test_grant_must_match_from_and_to(alter: Callable[[Document], None], permitted: bool) -> None:
    grant, route = grant_and_route()
    alter(grant)
    result = outcome(GWA_006, facts(grant, route))
    assert (result.outcome is Outcome.PASSED) is permitted, result


# -- GWA-007 ---------------------------------------------------------------------------


def all_namespaces(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "gateway-conformance-infra/all-namespaces"
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert finding.evidence["listeners"] == "http"


GWA_007_CASES = [
    RuleCase(
        "GWA-007",
        "conformance-base-gateways",
        lambda: facts(*manifests("conformance-base_manifests.yaml", "Gateway")),
        Outcome.FINDINGS,
        check=all_namespaces,
    ),
    RuleCase(
        "GWA-007",
        "shared-gateway-with-selector",
        lambda: facts(one("examples_cross-namespace-routing_gateway.yaml", "Gateway")),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-007",
        "listener-without-allowed-routes-defaults-to-same",
        lambda: facts(*example_class(None)),
        Outcome.PASSED,
    ),
]


# -- GWA-008 ---------------------------------------------------------------------------

GATEWAY_CRDS = ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants")


def crds(bundle: str, channel: str) -> list[Document]:
    """Hand-made CRD metadata with the annotations the Gateway API bundles carry (incluster.md
    §4); no Gateway API CRD manifest is among the fixtures."""
    return [
        {
            "metadata": {
                "name": f"{plural}.gateway.networking.k8s.io",
                "annotations": {
                    convert.BUNDLE_VERSION_ANNOTATION: bundle,
                    convert.CHANNEL_ANNOTATION: channel,
                },
            }
        }
        for plural in GATEWAY_CRDS
    ]


def managed_install(
    bundle: str, channel: str, *, installation: str | None = "Standard", version: str = "1.33.2"
) -> audit_pb2.ClusterFacts:
    """The recorded overlay cluster, altered to run ``version`` with the managed Gateway API
    ``installation``, and a report of CRDs at ``bundle``/``channel``."""
    cluster = managed_cluster("azcli-recording_ManagedClusterGet_cni-overlay.json")
    cluster["properties"]["kubernetesVersion"] = version
    cluster["properties"]["currentKubernetesVersion"] = version
    if installation is not None:
        cluster["properties"]["ingressProfile"] = {"gatewayAPI": {"installation": installation}}
    inventory = inventory_of(cluster)
    report = new_report(inventory.arm_resource_id)
    objects = crds(bundle, channel)
    evidence_of = report.gateway_api
    evidence_of.crd_bundle_versions.update(
        convert.crd_annotations(objects, convert.BUNDLE_VERSION_ANNOTATION)
    )
    evidence_of.crd_channels.update(convert.crd_annotations(objects, convert.CHANNEL_ANNOTATION))
    return facts_of(inventory, report)


def experimental(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["experimental_crds"].split(",") == sorted(
        f"{p}.gateway.networking.k8s.io" for p in GATEWAY_CRDS
    )
    assert "mismatched_crds" not in finding.evidence


def other_bundle(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["managed_bundle"] == "v1.2.1"
    assert "httproutes.gateway.networking.k8s.io=v1.3.0" in finding.evidence["mismatched_crds"]
    assert "experimental_crds" not in finding.evidence


GWA_008_CASES = [
    RuleCase(
        "GWA-008",
        "experimental-crds-under-managed-install",
        lambda: managed_install("v1.2.1", "experimental"),
        Outcome.FINDINGS,
        check=experimental,
    ),
    RuleCase(
        "GWA-008",
        "bundle-of-another-minor",
        lambda: managed_install("v1.3.0", "standard"),
        Outcome.FINDINGS,
        check=other_bundle,
    ),
    RuleCase(
        "GWA-008",
        "managed-bundle-for-1.33",
        lambda: managed_install("v1.2.1", "standard"),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-008",
        "managed-bundle-for-1.35",
        lambda: managed_install("v1.4.1", "standard", version="1.35.0"),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-008",
        "experimental-crds-without-managed-install",
        lambda: managed_install("v1.3.0", "experimental", installation=None),
        Outcome.PASSED,
    ),
    RuleCase(
        "GWA-008",
        "kubernetes-version-does-not-parse",
        lambda: managed_install("v1.2.1", "standard", version="latest"),
        Outcome.NOT_ASSESSED,
        check=reason_has("latest"),
    ),
    RuleCase(
        "GWA-008",
        "no-inventory",
        lambda: facts_of(report=managed_install("v1.2.1", "experimental").report),
        Outcome.NOT_ASSESSED,
        check=reason_has("inventory"),
    ),
]


@pytest.mark.parametrize(
    ("kubernetes", "bundle"),
    [("1.25.6", None), ("1.26.0", "v1.2.1"), ("1.33.2", "v1.2.1"), ("1.34.1", "v1.3.0"),
     ("1.35.0", "v1.4.1"), ("1.36.0", "v1.5.1"), ("1.38.2", "v1.5.1")],
)  # fmt: skip
def test_managed_bundle_follows_the_kubernetes_minor(kubernetes: str, bundle: str | None) -> None:
    minor = gateway._minor(kubernetes)
    assert minor is not None
    expected = gateway._managed_bundle(minor)
    assert (gateway.BUNDLE_NAMES[expected] if expected else None) == bundle


def test_experimental_crds_are_still_reported_when_the_version_does_not_parse() -> None:
    result = outcome(GWA_008, managed_install("v1.2.1", "experimental", version="latest"))
    assert result.outcome is Outcome.FINDINGS
    assert "latest" in result.reason


# -- all cases ---------------------------------------------------------------------------

CASES: list[RuleCase] = [
    *GWA_001_CASES,
    *GWA_002_CASES,
    *GWA_003_CASES,
    *GWA_004_CASES,
    *GWA_005_CASES,
    *GWA_006_CASES,
    *GWA_007_CASES,
    *GWA_008_CASES,
]
