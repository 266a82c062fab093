"""ExternalDNS rules EDN-005 and EDN-007, from the published ExternalDNS Azure tutorials
and the Gateway API / AGC route manifests and statuses.

Objects go through the agent's converters (agent/gatherers/externaldns.py,
gateway_api.py) into the report, as the agent would send them. Namespaced objects
without a namespace land in ``default``, as kubectl applies them. The published
ExternalDNS Deployment runs v0.22.0 with --source=service --source=ingress and
--domain-filter=example.com; cases alter its tag or flags where they need to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from netaudit.agent.gatherers import externaldns as convert
from netaudit.agent.gatherers import gateway_api
from netaudit.collector.analysis.external_dns_scope import (
    ALPHA_PREFIX,
    GA_PREFIX,
    instance_scope,
    version_default_prefix,
)
from netaudit.collector.analysis.external_dns_zones import (
    instance_name,
    selects,
    zone_selection,
)
from netaudit.collector.inventory import convert as arm_convert
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.external_dns import (
    EDN_002,
    EDN_003,
    EDN_004,
    EDN_005,
    EDN_006,
    EDN_007,
)
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.rule_cases import (
    RuleCase,
    arm_json,
    facts_of,
    k8s_documents,
    managed_cluster,
    new_report,
    reason_mentions,
)
from tests.unit.rules.test_identity_rights import assignments

CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/aks-1"
)
RULES: dict[str, Rule] = {r.id: r for r in (EDN_002, EDN_003, EDN_004, EDN_005, EDN_006, EDN_007)}

Document = dict[str, Any]


# -- building reports from manifests --------------------------------------------------


def one(relative: str, kind: str) -> Document:
    (document,) = [d for d in k8s_documents(relative) if d.get("kind") == kind]
    document.setdefault("metadata", {}).setdefault("namespace", "default")
    return document


def external_dns(
    tag: str = "v0.22.0", *, replace: tuple[str, str] | None = None, add: Iterable[str] = ()
) -> Document:
    """The Azure tutorial's ExternalDNS Deployment, with its image tag, one argument
    replaced and arguments added as a case needs."""
    deployment = one("externaldns/azure_manifest_rbac-cluster.yaml", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["image"] = container["image"].replace(":v0.22.0", f":{tag}" if tag else "")
    if replace is not None:
        container["args"] = [replace[1] if a == replace[0] else a for a in container["args"]]
    container["args"] += list(add)
    return deployment


def ga_service() -> Document:
    """Service nginx-svc with external-dns.kubernetes.io/hostname: server.example.com."""
    return one("externaldns/azure_nginx_ingress.yaml", "Service")


def alpha_service() -> Document:
    """The same Service annotated with the pre-v0.22 prefix (altered)."""
    service = ga_service()
    annotations = service["metadata"]["annotations"]
    annotations[f"{ALPHA_PREFIX}hostname"] = annotations.pop(f"{GA_PREFIX}hostname")
    return service


def tagged_route() -> Document:
    """HTTPRoute my-route (api.example.com -> parent my-gateway), no status as published."""
    return one("externaldns/azure_httproute_azure-tags.yaml", "HTTPRoute")


def agc_route(*, accepted: str = "True", generation: int | None = None) -> Document:
    """AGC's traffic-split route with the status AGC published for it, a hostname added
    (altered) and the Accepted condition's status set to ``accepted``."""
    route = one("gateway-api/agc_httproute_traffic-split.yaml", "HTTPRoute")
    route["spec"]["hostnames"] = ["contoso.example.com"]
    (status,) = k8s_documents("gateway-api/agc_httproute_status.yaml")
    route["status"] = status["status"]
    for condition in route["status"]["parents"][0]["conditions"]:
        if condition["type"] == "Accepted":
            condition["status"] = accepted
            if accepted != "True":
                condition["reason"] = "NotAllowedByListeners"
    if generation is not None:
        route["metadata"]["generation"] = generation
    return route


def gateway_source() -> tuple[str, str]:
    return ("--source=ingress", "--source=gateway-httproute")


def report_of(
    instances: Iterable[Document] = (),
    objects: Iterable[Document] = (),
    gaps: Iterable[tuple[str, str, str]] = (),
) -> report_pb2.Report:
    report = new_report(CLUSTER)
    evidence = report.external_dns
    evidence.instances.extend(convert.external_dns_instance(d) for d in instances)
    for document in objects:
        kind = document["kind"]
        if kind == "Service":
            evidence.requested_names.extend(convert.service_names(document))
        elif kind == "Ingress":
            evidence.requested_names.extend(convert.ingress_names(document))
        else:
            evidence.requested_names.extend(convert.route_names(document, kind))
            report.gateway_api.routes.append(gateway_api.route(document, kind))
    for gatherer, resource, reason in gaps:
        report.gaps.add(gatherer=gatherer, resource=resource, reason=reason, message="denied")
    return report


def facts(
    instances: Iterable[Document] = (),
    objects: Iterable[Document] = (),
    gaps: Iterable[tuple[str, str, str]] = (),
) -> audit_pb2.ClusterFacts:
    return facts_of(report=report_of(instances, objects, gaps))


def built(
    instances: Callable[[], Iterable[Document]],
    objects: Callable[[], Iterable[Document]],
    gaps: Iterable[tuple[str, str, str]] = (),
) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts(instances(), objects(), gaps)


# -- checks -------------------------------------------------------------------------------


def finding_with(resource: str, **evidence: str) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        (finding,) = result.findings
        assert finding.resource == resource
        for key, value in evidence.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


# -- the cases ----------------------------------------------------------------------------

CASES = [
    # EDN-005
    RuleCase(
        "EDN-005",
        "v0.21-reads-alpha-but-service-has-ga-annotation",
        built(lambda: [external_dns("v0.21.0")], lambda: [ga_service()]),
        Outcome.FINDINGS,
        check=finding_with(
            "Service default/nginx-svc",
            annotations=f"{GA_PREFIX}hostname",
            instance_prefixes=ALPHA_PREFIX,
            instances="default/external-dns",
            versions="v0.21.0",
        ),
    ),
    RuleCase(
        "EDN-005",
        "v0.22-reads-ga-but-service-has-alpha-annotation",
        built(lambda: [external_dns()], lambda: [alpha_service()]),
        Outcome.FINDINGS,
        check=finding_with("Service default/nginx-svc", instance_prefixes=GA_PREFIX),
    ),
    RuleCase(
        "EDN-005",
        "published-v0.22-and-ga-annotations",
        built(
            lambda: [external_dns()],
            lambda: [
                ga_service(),
                one("externaldns/azure-private-dns_service_internal-lb.yaml", "Service"),
            ],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-005",
        "v0.22-with-annotation-prefix-alpha",
        built(
            lambda: [external_dns(add=[f"--annotation-prefix={ALPHA_PREFIX}"])],
            lambda: [alpha_service()],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-005",
        "image-without-tag",
        built(lambda: [external_dns("")], lambda: [ga_service()]),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("default/external-dns", "annotation prefix is unknown"),
    ),
    RuleCase(
        "EDN-005",
        "services-forbidden",
        built(
            lambda: [external_dns()],
            lambda: [ga_service()],
            [("externaldns", "services/v1", "forbidden")],
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("services/v1"),
    ),
    # EDN-007
    RuleCase(
        "EDN-007",
        "published-route-without-status",
        built(lambda: [external_dns(replace=gateway_source())], lambda: [tagged_route()]),
        Outcome.FINDINGS,
        check=finding_with(
            "HTTPRoute default/my-route",
            hostnames="api.example.com",
            instances="default/external-dns",
            parent_refs="default/my-gateway",
        ),
    ),
    RuleCase(
        "EDN-007",
        "agc-route-rejected",
        built(
            lambda: [external_dns(replace=gateway_source())],
            lambda: [agc_route(accepted="False")],
        ),
        Outcome.FINDINGS,
        check=finding_with(
            "HTTPRoute test-infra/traffic-split-route",
            **{"parent.test-infra/gateway-01": "Accepted=False (NotAllowedByListeners)"},
        ),
    ),
    RuleCase(
        "EDN-007",
        "agc-route-accepted",
        built(lambda: [external_dns(replace=gateway_source())], lambda: [agc_route()]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-007",
        "instance-without-gateway-source",
        built(lambda: [external_dns()], lambda: [tagged_route()]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-007",
        "httproutes-forbidden",
        built(
            lambda: [external_dns(replace=gateway_source())],
            list,
            [("gateway_api", "httproutes.gateway.networking.k8s.io/v1", "forbidden")],
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("httproutes.gateway.networking.k8s.io/v1"),
    ),
    RuleCase(
        "EDN-007",
        "gateway-api-not-installed",
        built(
            lambda: [external_dns(replace=gateway_source())],
            list,
            [("gateway_api", "httproutes.gateway.networking.k8s.io", "not_found")],
        ),
        Outcome.PASSED,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: RuleCase) -> None:
    """Each case through the engine (the catalogue runs them too once the rules are registered)."""
    result = evaluate_rule(RULES[case.rule_id], ClusterView(case.facts()), RuleSettings())
    assert result.outcome is case.expect, f"{result.outcome}: {result.reason}"
    if case.expect is Outcome.FINDINGS:
        assert result.findings and all(f.rule_id == case.rule_id for f in result.findings)
    else:
        assert result.findings == ()
    if case.expect is Outcome.NOT_ASSESSED:
        assert result.reason
    if case.check is not None:
        case.check(result)


def outcome(rule: Rule, facts_: audit_pb2.ClusterFacts) -> RuleOutcome:
    return evaluate_rule(rule, ClusterView(facts_), RuleSettings())


# -- versions and scopes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "prefix"),
    [
        ("v0.22.0", GA_PREFIX),
        ("v0.23.1", GA_PREFIX),
        ("0.22.0-debian-12-r3", GA_PREFIX),
        ("v1.0.0", GA_PREFIX),
        ("v0.21.0", ALPHA_PREFIX),
        ("v0.14.2", ALPHA_PREFIX),
        ("0.9.0", ALPHA_PREFIX),
        ("latest", None),
        ("", None),
    ],
)
def test_default_prefix_by_version(tag: str, prefix: str | None) -> None:
    assert version_default_prefix(tag) == prefix


def test_the_legacy_prefix_flag_adds_the_alpha_prefix() -> None:
    instance = convert.external_dns_instance(
        external_dns("v0.23.0", add=["--enable-legacy-annotation-prefix"])
    )
    assert instance_scope(instance).prefixes == frozenset({GA_PREFIX, ALPHA_PREFIX})
    assert outcome(EDN_005, facts([external_dns("v0.23.0")], [alpha_service()])).findings
    legacy = external_dns("v0.23.0", add=["--enable-legacy-annotation-prefix"])
    assert outcome(EDN_005, facts([legacy], [alpha_service()])).outcome is Outcome.PASSED


@pytest.mark.parametrize(
    ("filters", "hostname", "published"),
    [
        ((), "anything.org", True),
        (("--domain-filter=example.com",), "example.com", True),
        (("--domain-filter=example.com",), "a.b.example.com", True),
        (("--domain-filter=example.com",), "notexample.com", False),
        (("--domain-filter=.example.com",), "example.com", False),
        (("--domain-filter=.example.com",), "a.example.com", True),
        (("--domain-filter=example.com,example.org",), "x.example.org", True),
        (("--domain-filter=Example.COM.",), "x.example.com", True),
        (
            ("--domain-filter=example.com", "--exclude-domains=dev.example.com"),
            "a.dev.example.com",
            False,
        ),
        (("--regex-domain-filter=^api\\.",), "api.example.net", True),
        (("--regex-domain-filter=^api\\.",), "www.example.net", False),
    ],
)
def test_domain_filters_follow_external_dns(
    filters: tuple[str, ...], hostname: str, published: bool
) -> None:
    deployment = external_dns(replace=("--domain-filter=example.com", "--source=service"))
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] += list(filters)
    scope = instance_scope(convert.external_dns_instance(deployment))
    assert scope.publishes(hostname) is published


def test_a_regex_that_does_not_compile_is_not_assessed() -> None:
    broken = external_dns(add=["--regex-domain-filter=(unclosed"])
    result = outcome(EDN_005, facts([broken], [ga_service()]))
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "--regex-domain-filter" in result.reason


# -- EDN-005 --------------------------------------------------------------------------------


def test_objects_outside_the_instance_sources_namespace_or_filters_do_not_count() -> None:
    old = "v0.21.0"
    ingress_only = external_dns(old, replace=("--source=service", "--source=ingress"))
    assert outcome(EDN_005, facts([ingress_only], [ga_service()])).outcome is Outcome.PASSED
    other_namespace = external_dns(old, add=["--namespace=apps"])
    assert outcome(EDN_005, facts([other_namespace], [ga_service()])).outcome is Outcome.PASSED
    other_domain = external_dns(
        old, replace=("--domain-filter=example.com", "--domain-filter=contoso.com")
    )
    assert outcome(EDN_005, facts([other_domain], [ga_service()])).outcome is Outcome.PASSED


def test_an_object_with_both_prefixes_is_read_by_either_version() -> None:
    service = ga_service()
    service["metadata"]["annotations"][f"{ALPHA_PREFIX}hostname"] = "server.example.com"
    for tag in ("v0.21.0", "v0.22.0"):
        assert outcome(EDN_005, facts([external_dns(tag)], [service])).outcome is Outcome.PASSED


def test_one_finding_per_object_names_every_blind_instance() -> None:
    first = external_dns("v0.21.0")
    second = external_dns("v0.20.0")
    second["metadata"]["name"] = "external-dns-private"
    (finding,) = outcome(EDN_005, facts([first, second], [ga_service()])).findings
    assert finding.evidence["instances"] == "default/external-dns,default/external-dns-private"
    assert finding.severity == audit_pb2.SEVERITY_HIGH


def test_spec_hosts_are_not_annotations() -> None:
    ingress = one("externaldns/azure_nginx_service-annotation.yaml", "Ingress")
    result = outcome(EDN_005, facts([external_dns("v0.21.0")], [ingress]))
    assert result.outcome is Outcome.PASSED


def test_route_annotations_count_for_gateway_sources() -> None:
    route = tagged_route()
    route["metadata"]["annotations"][f"{GA_PREFIX}hostname"] = "www.example.com"
    old = external_dns("v0.21.0", replace=gateway_source())
    (finding,) = outcome(EDN_005, facts([old], [route])).findings
    assert finding.resource == "HTTPRoute default/my-route"


def test_no_external_dns_passes() -> None:
    assert outcome(EDN_005, facts([], [alpha_service()])).outcome is Outcome.PASSED


def test_instance_without_source_flags_is_not_assessed_when_objects_are_annotated() -> None:
    deployment = external_dns()
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = ["--provider=azure"]
    result = outcome(EDN_005, facts([deployment], [alpha_service()]))
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "no --source flag" in result.reason


# -- EDN-007 --------------------------------------------------------------------------------


def test_accepted_for_an_older_generation_is_not_accepted() -> None:
    instance = external_dns(replace=gateway_source())
    stale = agc_route(generation=2)  # the published status says observedGeneration 1
    (finding,) = outcome(EDN_007, facts([instance], [stale])).findings
    assert "for generation 1, route is at 2" in finding.evidence["parent.test-infra/gateway-01"]
    current = agc_route(generation=1)
    assert outcome(EDN_007, facts([instance], [current])).outcome is Outcome.PASSED


def test_a_status_for_another_parent_does_not_count() -> None:
    route = agc_route()
    route["spec"]["parentRefs"] = [{"name": "other-gateway"}]
    result = outcome(EDN_007, facts([external_dns(replace=gateway_source())], [route]))
    (finding,) = result.findings
    assert finding.evidence["parent_refs"] == "test-infra/other-gateway"
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM


@pytest.mark.parametrize(
    ("flag", "selected"),
    [
        ("--gateway-namespace=test-infra", True),
        ("--gateway-namespace=infra", False),
        ("--gateway-name=gateway-01", True),
        ("--gateway-name=other", False),
        ("--namespace=test-infra", True),
        ("--namespace=apps", False),
    ],
)
def test_gateway_and_namespace_filters_select_routes(flag: str, selected: bool) -> None:
    instance = external_dns(replace=gateway_source(), add=[flag])
    result = outcome(EDN_007, facts([instance], [agc_route(accepted="False")]))
    assert bool(result.findings) is selected


def test_hostname_annotation_selects_a_route_without_spec_hostnames() -> None:
    route = agc_route(accepted="False")
    del route["spec"]["hostnames"]
    route["metadata"]["annotations"] = {f"{GA_PREFIX}hostname": "app.example.com"}
    instance = external_dns(replace=gateway_source())
    (finding,) = outcome(EDN_007, facts([instance], [route])).findings
    assert finding.evidence["hostnames"] == "app.example.com"
    ignoring = external_dns(replace=gateway_source(), add=["--ignore-hostname-annotation"])
    assert outcome(EDN_007, facts([ignoring], [route])).outcome is Outcome.PASSED


def test_routes_outside_the_domain_filter_pass() -> None:
    route = agc_route(accepted="False")
    route["spec"]["hostnames"] = ["contoso.net"]
    result = outcome(EDN_007, facts([external_dns(replace=gateway_source())], [route]))
    assert result.outcome is Outcome.PASSED


# -- EDN-002, EDN-003, EDN-004: an azure-private-dns instance and the zones it writes -------
# The published azure-private-dns Deployment (--domain-filter=example.com,
# --azure-resource-group=externaldns) with its subscription placeholder set; the zone is the
# published PrivateZoneGet renamed example.com in that resource group, with the published
# link, A and TXT record sets altered as each case says.

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
VNET = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/"
    "virtualNetworks/vnet-aks"
)
ZONE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/externaldns/providers/Microsoft.Network/"
    "privateDnsZones/example.com"
)
PRIVATE_INSTANCE = "default/externaldns"


def private_external_dns(*add: str) -> Document:
    deployment = one("externaldns/azure-private-dns_manifest_rbac-cluster.yaml", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["args"] = [
        f"--azure-subscription-id={SUBSCRIPTION}" if a.startswith("--azure-subscription-id") else a
        for a in container["args"]
    ] + list(add)
    return deployment


def internal_service() -> Document:
    """Service with external-dns.kubernetes.io/hostname: server.example.com (published)."""
    return one("externaldns/azure-private-dns_service_internal-lb.yaml", "Service")


def ingress_for(host: str) -> Document:
    """The published Ingress with its rule's host set to ``host`` (altered)."""
    ingress = one("externaldns/azure-private-dns_ingress.yaml", "Ingress")
    ingress["spec"]["rules"][0]["host"] = host
    return ingress


def a_record(name: str) -> dict[str, Any]:
    record = arm_json("privatedns/RecordSetAGet.json")
    record["name"] = name
    return record


def txt_record(name: str, resource: str, owner: str = "default") -> dict[str, Any]:
    record = arm_json("privatedns/RecordSetTXTGet.json")
    record["name"] = name
    record["properties"]["txtRecords"] = [
        {
            "value": [
                f"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}"
            ]
        }
    ]
    return record


def link(vnet: str = VNET, state: str = "Completed") -> dict[str, Any]:
    body = arm_json("privatedns/VirtualNetworkLinkGet.json")
    body["properties"]["virtualNetwork"]["id"] = vnet
    body["properties"]["virtualNetworkLinkState"] = state
    return body


def private_zone(links: Iterable[dict[str, Any]], records: Iterable[dict[str, Any]]) -> Any:
    zone = arm_json("privatedns/PrivateZoneGet.json")
    zone["id"], zone["name"] = ZONE_ID, "example.com"
    converted = arm_convert.private_dns_zone(zone, list(links), list(records))
    converted.external_dns_instances.append(PRIVATE_INSTANCE)
    return converted


def zone_facts(
    *,
    links: Callable[[], Iterable[dict[str, Any]]] = lambda: [link()],
    records: Callable[[], Iterable[dict[str, Any]]] = lambda: [a_record("server")],
    objects: Callable[[], Iterable[Document]] = lambda: [internal_service()],
    instance: Callable[[], Document] = private_external_dns,
    read_with: Callable[[], Document] | None = None,
) -> Callable[[], audit_pb2.ClusterFacts]:
    """The report of ``instance`` and ``objects``; the inventory of a cluster in VNET whose
    refresh read the zone for the instance as ``read_with`` (default: as it is) configured it."""

    def build() -> audit_pb2.ClusterFacts:
        report = report_of([instance()], objects())
        cluster = arm_convert.cluster_inventory(managed_cluster("ManagedClustersGet.json"))
        cluster.arm_resource_id, cluster.subscription_id = CLUSTER, SUBSCRIPTION
        cluster.agent_pools[0].vnet_subnet_id = f"{VNET}/subnets/nodes"
        read = convert.external_dns_instance((read_with or instance)())
        selection = zone_selection(read, SUBSCRIPTION)
        assert selection is not None
        cluster.external_dns_zone_selections.append(selection)
        cluster.private_dns_zones.append(private_zone(links(), records()))
        return facts_of(cluster, report)

    return build


PRIVATE_ZONE_CASES = [
    # EDN-004
    RuleCase(
        "EDN-004",
        "zone-linked-to-another-vnet-only",
        zone_facts(links=lambda: [arm_json("privatedns/VirtualNetworkLinkGet.json")]),
        Outcome.FINDINGS,
        check=finding_with(
            "private DNS zone example.com",
            zone_id=ZONE_ID,
            instances=PRIVATE_INSTANCE,
            links="virtualNetworkLink1->virtualNetworkName:Completed",
        ),
    ),
    RuleCase(
        "EDN-004",
        "zone-without-links",
        zone_facts(links=list),
        Outcome.FINDINGS,
        check=finding_with("private DNS zone example.com", links="(none)"),
    ),
    RuleCase(
        "EDN-004",
        "link-to-cluster-vnet-in-progress",
        zone_facts(links=lambda: [link(state="InProgress")]),
        Outcome.FINDINGS,
    ),
    RuleCase("EDN-004", "linked-and-completed", zone_facts(), Outcome.PASSED),
    RuleCase(
        "EDN-004",
        "public-provider-only-needs-no-link",
        zone_facts(instance=external_dns, read_with=private_external_dns),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-004",
        "inventory-read-before-the-domain-filter-changed",
        zone_facts(
            instance=lambda: private_external_dns("--domain-filter=example.org"),
            read_with=private_external_dns,
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions(PRIVATE_INSTANCE, "refresh the inventory"),
    ),
    # EDN-002
    RuleCase(
        "EDN-002",
        "service-hostname-without-record",
        zone_facts(records=lambda: [a_record("other")]),
        Outcome.FINDINGS,
        check=finding_with(
            "Service default/nginx-svc",
            hostname="server.example.com",
            instance=PRIVATE_INSTANCE,
            zone=ZONE_ID,
        ),
    ),
    RuleCase(
        "EDN-002",
        "ingress-host-outside-every-zone",
        zone_facts(
            instance=lambda: private_external_dns("--domain-filter=example.org"),
            objects=lambda: [ingress_for("shop.example.org")],
        ),
        Outcome.FINDINGS,
        check=finding_with("Ingress default/nginx", zone="(none)"),
    ),
    RuleCase("EDN-002", "service-hostname-has-its-a-record", zone_facts(), Outcome.PASSED),
    RuleCase(
        "EDN-002",
        "unaccepted-route-is-not-desired",
        zone_facts(
            instance=lambda: private_external_dns("--source=gateway-httproute"),
            objects=lambda: [agc_route(accepted="False")],
            records=list,
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-002",
        "no-inventory",
        built(lambda: [private_external_dns()], lambda: [internal_service()]),
        Outcome.NOT_ASSESSED,
    ),
    # EDN-003
    RuleCase(
        "EDN-003",
        "txt-owned-by-this-instance-for-a-deleted-service",
        zone_facts(
            records=lambda: [a_record("server"), txt_record("a-old", "service/default/old")]
        ),
        Outcome.FINDINGS,
        check=finding_with(
            "private DNS zone example.com TXT a-old",
            owned_resource="service/default/old",
            owner="default",
            instance=PRIVATE_INSTANCE,
        ),
    ),
    RuleCase(
        "EDN-003",
        "txt-of-an-existing-service",
        zone_facts(records=lambda: [txt_record("a-server", "service/default/nginx-svc")]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-003",
        "txt-of-another-owner",
        zone_facts(records=lambda: [txt_record("a-old", "service/default/old", owner="other")]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-003",
        "published-txt-is-not-a-registry-record",
        zone_facts(records=lambda: [arm_json("privatedns/RecordSetTXTGet.json")]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-003",
        "public-provider-only",
        built(lambda: [external_dns()], lambda: [ga_service()]),
        Outcome.NOT_ASSESSED,
    ),
]
# -- EDN-006: the identity an azure-private-dns instance names, and its grants -------------
# The kubelet identity (client and object id hand-made) is the one the instance names with
# --azure-user-assigned-identity-client-id; grants are the published assignment list's items
# with the principal, role and scope each case says.

KUBELET_CLIENT = "kubelet-client-id"
KUBELET_OBJECT = "kubelet-object-id"
ZONE_GROUP = ZONE_ID.split("/providers/", 1)[0]
PRIVATE_DNS_ZONE_CONTRIBUTOR = "b12aa53e-6015-4669-85d0-8515ebb3ae7f"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


def identity_facts(
    *grants: tuple[str, str],
    client_id: str | None = KUBELET_CLIENT,
    read: bool = True,
) -> Callable[[], audit_pb2.ClusterFacts]:
    """``zone_facts`` with the kubelet identity on the cluster, the instance naming
    ``client_id`` (None: as published, no client id) and, when ``read``, the zone's role
    assignments: ``grants`` of (role GUID, scope) to the kubelet identity."""
    flags = () if client_id is None else (f"--azure-user-assigned-identity-client-id={client_id}",)
    base = zone_facts(
        instance=lambda: private_external_dns(*flags),
        read_with=lambda: private_external_dns(*flags),
    )

    def build() -> audit_pb2.ClusterFacts:
        facts_ = base()
        facts_.inventory.identity.principals.add(
            role="kubelet", principal_id=KUBELET_OBJECT, client_id=KUBELET_CLIENT
        )
        if read:
            items = assignments(*((KUBELET_OBJECT, role, scope) for role, scope in grants))
            facts_.inventory.role_assignment_scopes.append(
                arm_convert.role_assignment_scope(ZONE_ID, items)
            )
        return facts_

    return build


def without_instances(
    build: Callable[[], audit_pb2.ClusterFacts],
) -> Callable[[], audit_pb2.ClusterFacts]:
    def built_() -> audit_pb2.ClusterFacts:
        facts_ = build()
        del facts_.report.external_dns.instances[:]
        return facts_

    return built_


EDN_006_CASES = [
    RuleCase(
        "EDN-006",
        "zone-contributor-without-group-reader",
        identity_facts((PRIVATE_DNS_ZONE_CONTRIBUTOR, ZONE_ID)),
        Outcome.FINDINGS,
        check=finding_with(ZONE_ID, identity="kubelet", missing="Reader on its resource group"),
    ),
    RuleCase(
        "EDN-006",
        "reader-only",
        identity_facts((READER, ZONE_GROUP)),
        Outcome.FINDINGS,
        check=finding_with(ZONE_ID, missing="Private DNS Zone Contributor on the zone"),
    ),
    RuleCase(
        "EDN-006",
        "zone-contributor-and-group-reader",
        identity_facts((PRIVATE_DNS_ZONE_CONTRIBUTOR, ZONE_ID), (READER, ZONE_GROUP)),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-006",
        "contributor-on-the-group",
        identity_facts((CONTRIBUTOR, ZONE_GROUP)),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-006",
        "identity-in-azure-json",
        identity_facts(client_id=None),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("azure.json"),
    ),
    RuleCase(
        "EDN-006",
        "identity-not-of-the-cluster",
        identity_facts(client_id="someone-else"),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("someone-else", "none of the cluster's identities"),
    ),
    RuleCase(
        "EDN-006",
        "zone-assignments-not-read",
        identity_facts(read=False),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("were not read"),
    ),
    RuleCase(
        "EDN-006",
        "public-provider-only",
        zone_facts(instance=external_dns, read_with=private_external_dns),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("public"),
    ),
    RuleCase(
        "EDN-006",
        "no-external-dns",
        without_instances(identity_facts()),
        Outcome.PASSED,
    ),
]
PRIVATE_ZONE_CASES += EDN_006_CASES


CASES = [*CASES, *PRIVATE_ZONE_CASES]


@pytest.mark.parametrize("case", PRIVATE_ZONE_CASES, ids=[c.id for c in PRIVATE_ZONE_CASES])
def test_private_zone_case(case: RuleCase) -> None:
    test_case(case)


# -- EDN-002, EDN-003: an azure (public DNS) instance and the public zones it writes --------
# The Azure tutorial's Deployment (--provider=azure, --azure-resource-group=MyDnsResourceGroup,
# --domain-filter=example.com, no --txt-owner-id: owner "default"); the zone is the published
# GetZone renamed example.com in that resource group of the cluster's subscription, with the
# published A, CNAME and TXT record sets renamed (and the TXT value set) as each case says.

DNS_GROUP = "MyDnsResourceGroup"
PUBLIC_ZONES = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{DNS_GROUP}/providers/Microsoft.Network/dnsZones"
)
PUBLIC_ZONE_ID = f"{PUBLIC_ZONES}/example.com"


def public_instance_name() -> str:
    return instance_name(convert.external_dns_instance(external_dns()))


def public_record(record_type: str, name: str, resource: str = "") -> dict[str, Any]:
    """The published Get{A,CNAME,TXT}Recordset renamed ``name``; a TXT one holds the registry
    record of ``resource`` for owner "default"."""
    record = arm_json(f"dns/Get{record_type}Recordset.json")
    record["name"] = name
    if resource:
        value = f"heritage=external-dns,external-dns/owner=default,external-dns/resource={resource}"
        record["properties"]["TXTRecords"] = [{"value": [value]}]
    return record


def public_zone_facts(
    *,
    records: Callable[[], Iterable[dict[str, Any]]] = lambda: [public_record("A", "server")],
    objects: Callable[[], Iterable[Document]] = lambda: [ga_service()],
    instance: Callable[[], Document] = external_dns,
    read_with: Callable[[], Document] | None = None,
    forbidden: bool = False,
) -> Callable[[], audit_pb2.ClusterFacts]:
    """The report of ``instance`` and ``objects``; the inventory of a cluster whose refresh
    read the public zone for the instance as ``read_with`` configured it, or was refused the
    zone listing (``forbidden``)."""

    def build() -> audit_pb2.ClusterFacts:
        report = report_of([instance()], objects())
        cluster = arm_convert.cluster_inventory(managed_cluster("ManagedClustersGet.json"))
        cluster.arm_resource_id, cluster.subscription_id = CLUSTER, SUBSCRIPTION
        selection = zone_selection(
            convert.external_dns_instance((read_with or instance)()), SUBSCRIPTION
        )
        assert selection is not None
        cluster.external_dns_zone_selections.append(selection)
        if forbidden:
            cluster.gaps.add(
                resource_id=PUBLIC_ZONES,
                reason="forbidden",
                message="403 AuthorizationFailed: the client may not list dnsZones",
            )
            return facts_of(cluster, report)
        zone_body = arm_json("dns/GetZone.json")
        zone_body["id"], zone_body["name"] = PUBLIC_ZONE_ID, "example.com"
        zone = arm_convert.public_dns_zone(zone_body, list(records()))
        zone.external_dns_instances.append(instance_name(convert.external_dns_instance(instance())))
        cluster.public_dns_zones.append(zone)
        return facts_of(cluster, report)

    return build


PUBLIC_ZONE_CASES = [
    # EDN-002
    RuleCase(
        "EDN-002",
        "public-zone-without-the-service-hostname",
        public_zone_facts(records=lambda: [public_record("A", "other")]),
        Outcome.FINDINGS,
        check=finding_with(
            "Service default/nginx-svc",
            hostname="server.example.com",
            instance=public_instance_name(),
            zone=PUBLIC_ZONE_ID,
        ),
    ),
    RuleCase("EDN-002", "public-zone-has-the-a-record", public_zone_facts(), Outcome.PASSED),
    RuleCase(
        "EDN-002",
        "public-zone-cname-answers-for-the-hostname",
        public_zone_facts(records=lambda: [public_record("CNAME", "server")]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-002",
        "public-zone-listing-forbidden",
        public_zone_facts(forbidden=True),
        Outcome.NOT_ASSESSED,
        check=reason_mentions(PUBLIC_ZONES, "forbidden"),
    ),
    RuleCase(
        "EDN-002",
        "public-zones-read-before-the-domain-filter-changed",
        public_zone_facts(
            instance=lambda: external_dns(
                replace=("--domain-filter=example.com", "--domain-filter=example.org")
            ),
            read_with=external_dns,
        ),
        Outcome.NOT_ASSESSED,
        check=reason_mentions("public zones", "refresh the inventory"),
    ),
    # EDN-003
    RuleCase(
        "EDN-003",
        "public-zone-txt-for-a-deleted-service",
        public_zone_facts(
            records=lambda: [
                public_record("A", "server"),
                public_record("TXT", "externaldns-a-old", "service/default/old"),
            ]
        ),
        Outcome.FINDINGS,
        check=finding_with(
            "DNS zone example.com TXT externaldns-a-old",
            owned_resource="service/default/old",
            owner="default",
            zone_id=PUBLIC_ZONE_ID,
        ),
    ),
    RuleCase(
        "EDN-003",
        "public-zone-txt-of-an-existing-service",
        public_zone_facts(
            records=lambda: [
                public_record("TXT", "externaldns-a-server", "service/default/nginx-svc")
            ]
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-003",
        "public-zone-published-txt-is-not-a-registry-record",
        public_zone_facts(records=lambda: [public_record("TXT", "record1")]),
        Outcome.PASSED,
    ),
    RuleCase(
        "EDN-003",
        "public-zone-listing-forbidden",
        public_zone_facts(forbidden=True),
        Outcome.NOT_ASSESSED,
        check=reason_mentions(PUBLIC_ZONES, "forbidden"),
    ),
]
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"
PUBLIC_ZONE_GROUP = PUBLIC_ZONES.split("/providers/", 1)[0]


def public_identity_facts(*grants: tuple[str, str]) -> Callable[[], audit_pb2.ClusterFacts]:
    """``public_zone_facts`` with the instance naming the kubelet identity and the public
    zone's role assignments: ``grants`` of (role GUID, scope) to the kubelet identity."""
    flag = f"--azure-user-assigned-identity-client-id={KUBELET_CLIENT}"
    base = public_zone_facts(
        instance=lambda: external_dns(add=[flag]), read_with=lambda: external_dns(add=[flag])
    )

    def build() -> audit_pb2.ClusterFacts:
        facts_ = base()
        facts_.inventory.identity.principals.add(
            role="kubelet", principal_id=KUBELET_OBJECT, client_id=KUBELET_CLIENT
        )
        items = assignments(*((KUBELET_OBJECT, role, scope) for role, scope in grants))
        facts_.inventory.role_assignment_scopes.append(
            arm_convert.role_assignment_scope(PUBLIC_ZONE_ID, items)
        )
        return facts_

    return build


PUBLIC_ZONE_CASES += [
    RuleCase(
        "EDN-006",
        "public-zone-private-dns-contributor-is-not-enough",
        public_identity_facts(
            (PRIVATE_DNS_ZONE_CONTRIBUTOR, PUBLIC_ZONE_ID), (READER, PUBLIC_ZONE_GROUP)
        ),
        Outcome.FINDINGS,
        check=finding_with(PUBLIC_ZONE_ID, missing="DNS Zone Contributor on the zone"),
    ),
    RuleCase(
        "EDN-006",
        "public-zone-dns-zone-contributor-and-group-reader",
        public_identity_facts((DNS_ZONE_CONTRIBUTOR, PUBLIC_ZONE_ID), (READER, PUBLIC_ZONE_GROUP)),
        Outcome.PASSED,
    ),
]
CASES = [*CASES, *PUBLIC_ZONE_CASES]


@pytest.mark.parametrize("case", PUBLIC_ZONE_CASES, ids=[c.id for c in PUBLIC_ZONE_CASES])
def test_public_zone_case(case: RuleCase) -> None:
    test_case(case)


def public_selection(*add: str) -> inventory_pb2.ExternalDnsZoneSelection:
    selection = zone_selection(convert.external_dns_instance(external_dns(add=add)), SUBSCRIPTION)
    assert selection is not None
    return selection


OTHER_GROUP_ZONES = PUBLIC_ZONES.replace(DNS_GROUP, "rg-other")


@pytest.mark.parametrize(
    ("add", "zone_id", "selected"),
    [
        ((), PUBLIC_ZONE_ID, True),
        # ExternalDNS lists the zones of its resource group only
        ((), f"{OTHER_GROUP_ZONES}/example.com", False),
        ((), f"{PUBLIC_ZONES}/example.org", False),
        ((), f"{PUBLIC_ZONES}/dev.example.com", True),
        (("--zone-id-filter=/dnsZones/dev.example.com",), PUBLIC_ZONE_ID, False),
        # --zone-name-filter selects a zone whatever the domain and zone id filters say...
        (
            ("--zone-id-filter=/dnsZones/dev.example.com", "--zone-name-filter=example.org"),
            f"{PUBLIC_ZONES}/example.org",
            True,
        ),
        # ...but not outside the resource group
        (("--zone-name-filter=example.org",), f"{OTHER_GROUP_ZONES}/example.org", False),
    ],
)
def test_public_zone_selection_follows_external_dns(
    add: tuple[str, ...], zone_id: str, selected: bool
) -> None:
    selection = public_selection(*add)
    assert selection.provider == "azure"
    assert selection.resource_group == DNS_GROUP
    assert selects(selection, zone_id, zone_id.rsplit("/", 1)[1]) is selected


def test_zone_name_filters_are_recorded_for_public_providers_only() -> None:
    assert list(public_selection("--zone-name-filter=a.com,b.com").zone_name_filters) == [
        "a.com",
        "b.com",
    ]
    private = zone_selection(
        convert.external_dns_instance(private_external_dns("--zone-name-filter=a.com")),
        SUBSCRIPTION,
    )
    assert private is not None and list(private.zone_name_filters) == []
