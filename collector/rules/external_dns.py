"""ExternalDNS rules (domain.md §5 EDN-*, §4.5).

What one ExternalDNS instance watches and publishes comes from its flags
(:mod:`netaudit.collector.analysis.external_dns_scope`).
"""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis import role_grants
from netaudit.collector.analysis.external_dns_scope import (
    ALPHA_PREFIX,
    GA_PREFIX,
    GATEWAY_GROUP,
    InstanceScope,
    InvalidScope,
    instance_scope,
)
from netaudit.collector.analysis.external_dns_zones import (
    PRIVATE_DNS_PROVIDER,
    PUBLIC_DNS_PROVIDERS,
    DnsZone,
    has_address_record,
    instance_name,
    instance_zones,
    owned_resources,
    recorded_selection,
    relative_name,
    same_selection,
    zone_for,
    zone_selection,
)
from netaudit.collector.analysis.fleet import overlap_components
from netaudit.collector.rules.rule import (
    DataSource,
    DoesNotApply,
    FleetGroup,
    NotAssessed,
    Rule,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

EXTERNAL_DNS_DOCS = "https://github.com/kubernetes-sigs/external-dns/blob/master/docs"
GATEWAY_ROUTE_PLURALS = ("httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes")
"""Route kinds as the gateway_api gatherer names their gaps (``httproutes.gateway...``)."""
SHARED_NAMES_SHOWN = 10
"""Other instances named in an owner-id collision message; the evidence counts them all."""

PROVIDER_ALIASES = {"azure-dns": "azure"}
"""Provider names that write the same kind of zone (public Azure DNS)."""


def _owner_ids_known(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """The collision itself is judged by the fleet-wide step over every instance's owner id
    (two instances of one cluster included); this part requires the agent's ExternalDNS
    evidence, so a cluster without it is not assessed rather than passed."""
    view.require_report()
    return iter(())


def _owner_id_collision(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """≥2 ExternalDNS instances (fleet-wide) with the same --txt-owner-id writing the same
    kind of zone with overlapping domains (domain.md §5 EDN-001; EDNS registry.md: the owner
    id must be unique per deployment sharing a zone)."""
    by_provider: dict[str, list[audit_pb2.FleetClaim]] = {}
    for claim in group.claims:
        provider = claim.external_dns.provider.lower()
        by_provider.setdefault(PROVIDER_ALIASES.get(provider, provider), []).append(claim)
    for claims in by_provider.values():
        for members in overlap_components(claims):
            yield from _collision_findings(rule, group.resource, [claims[i] for i in members])


def _collision_findings(
    rule: Rule, owner: str, members: list[audit_pb2.FleetClaim]
) -> Iterator[audit_pb2.Finding]:
    labels = [f"{_cluster_name(c)}/{c.external_dns.instance}" for c in members]
    # Sorted once: with thousands of instances on the default owner id, each finding names
    # the first few others and counts the rest (linear, not a sort per instance).
    ordered = sorted(labels)
    domains = sorted({d for c in members for d in c.external_dns.domain_filters}) or ["(any)"]
    for claim, label in zip(members, labels, strict=True):
        named = [other for other in ordered[: SHARED_NAMES_SHOWN + 1] if other != label]
        named = named[:SHARED_NAMES_SHOWN]
        others = len(labels) - 1
        more = others - len(named)
        yield rule.finding_for(
            claim.cluster_key,
            resource=f"externaldns {claim.external_dns.instance}",
            message=f"ExternalDNS {claim.external_dns.instance} uses --txt-owner-id {owner!r} "
            f"like {others} other instance(s) writing overlapping domains "
            f"({', '.join(named)}{f' and {more} more' if more > 0 else ''}): each takes the "
            "other's records for its own and deletes or overwrites them",
            evidence={
                "txt_owner_id": owner,
                "provider": claim.external_dns.provider,
                "domain_filters": ",".join(claim.external_dns.domain_filters) or "(none)",
                "colliding_instances": others,
                "shared_with": ",".join(named),
                "domains": ",".join(domains[:SHARED_NAMES_SHOWN]),
            },
        )


def _cluster_name(claim: audit_pb2.FleetClaim) -> str:
    return claim.cluster_name or claim.cluster_key.rsplit("/", 1)[-1]


EDN_001 = Rule(
    id="EDN-001",
    title="ExternalDNS owner ID collision",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="ExternalDNS marks the records it owns with TXT records carrying its "
    "--txt-owner-id; two instances with the same owner id (the default is 'default') "
    "writing the same zone each treat the other's records as their own, so one cluster "
    "deletes or overwrites the records another cluster published.",
    remediation="Give every ExternalDNS deployment that shares a zone a unique "
    "--txt-owner-id (e.g. the cluster name), and migrate existing records with "
    "--migrate-from-txt-owner; or narrow each instance with --domain-filter to names no "
    "other instance writes.",
    references=(
        "https://github.com/kubernetes-sigs/external-dns/blob/master/docs/registry/txt.md",
        "https://github.com/kubernetes-sigs/external-dns/issues/490",
    ),
    data_source=DataSource.BOTH,
    reads=(report("externaldns"),),
    check=_owner_ids_known,
    fleet=("external_dns", _owner_id_collision),
)


# -- EDN-002, EDN-003, EDN-004: the Azure zones an instance writes ----------------------

ZONE_SHOWN = 10
"""Names listed in one message; the evidence counts them all."""
AZURE_DNS_PROVIDERS = frozenset({PRIVATE_DNS_PROVIDER, *PUBLIC_DNS_PROVIDERS})
JUDGED_KINDS = {
    "service": "Service",
    "ingress": "Ingress",
    **{k.lower(): k for k in ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")},
}
"""ExternalDNS ``resource`` label kinds whose objects the agent reports (registry/txt.go)."""


def _azure_dns_instances(
    view: ClusterView, providers: frozenset[str] = AZURE_DNS_PROVIDERS
) -> tuple[list[report_pb2.ExternalDnsInstance], list[str]]:
    """The instances with one of ``providers`` whose zones (private for
    ``azure-private-dns``, public for ``azure``/``azure-dns``) the inventory read with their
    current selection, and one reason per instance it did not (read before the instance
    changed, or before its agent reported)."""
    report_ = view.require_report()
    cluster = view.require_inventory()
    judged: list[report_pb2.ExternalDnsInstance] = []
    unread: list[str] = []
    for instance in report_.external_dns.instances:
        if instance.provider.lower() not in providers:
            continue
        name = instance_name(instance)
        selection = zone_selection(instance, cluster.subscription_id or view.subscription_id)
        if selection is None:
            continue
        recorded = recorded_selection(cluster, name)
        if recorded is None or not same_selection(recorded, selection):
            kind = "public" if instance.provider.lower() in PUBLIC_DNS_PROVIDERS else "private"
            unread.append(
                f"the inventory has not read the {kind} zones ExternalDNS {name} selects "
                "with its current flags (refresh the inventory after the agent reports)"
            )
            continue
        judged.append(instance)
    return judged, unread


def _zone_kind(zone: DnsZone) -> str:
    return "DNS zone" if isinstance(zone, inventory_pb2.PublicDnsZone) else "private DNS zone"


def _cluster_vnets(cluster: inventory_pb2.ClusterInventory) -> set[str]:
    vnets = {v.id.lower() for v in cluster.virtual_networks}
    for pool in cluster.agent_pools:
        index = pool.vnet_subnet_id.lower().find("/subnets/")
        if index > 0:
            vnets.add(pool.vnet_subnet_id[:index].lower())
    return vnets


def _resolver_vnets(cluster: inventory_pb2.ClusterInventory) -> set[str]:
    """Peered VNets of cluster VNets that use custom DNS servers: a resolver there (hub and
    spoke) answers for the zones linked to it."""
    return {
        peering.remote_virtual_network_id.lower()
        for vnet in cluster.virtual_networks
        if vnet.dns_servers
        for peering in vnet.peerings
        if peering.remote_virtual_network_id
    }


def _link_problem(zone: inventory_pb2.PrivateDnsZone, resolving: set[str]) -> str | None:
    links = [
        link for link in zone.virtual_network_links if link.virtual_network_id.lower() in resolving
    ]
    if not links:
        return "has no virtual network link to the cluster's VNet (or a resolver VNet)"
    if any(link.link_state == "Completed" for link in links):
        return None
    states = ", ".join(f"{link.name}: {link.link_state or 'no state'}" for link in links)
    return f"has no Completed link to the cluster's VNet ({states})"


def _zone_not_linked(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A private zone an ``azure-private-dns`` instance writes has no link to the cluster's
    VNet (or to a peered VNet its custom DNS servers live in), or none Completed (domain.md
    §5 EDN-004): its records do not resolve from the cluster. Public zones need no link."""
    instances, unread = _azure_dns_instances(view, frozenset({PRIVATE_DNS_PROVIDER}))
    cluster = view.require_inventory()
    vnets = _cluster_vnets(cluster)
    if instances and not vnets:
        raise NotAssessed("the inventory names no VNet of the cluster's node pools")
    resolving = vnets | _resolver_vnets(cluster)
    for zone in _zones_of(cluster, instances):
        problem = _link_problem(zone, resolving)
        if problem is None:
            continue
        writers = list(zone.external_dns_instances)
        yield rule.finding(
            view,
            resource=f"private DNS zone {zone.name}",
            message=f"private DNS zone {zone.name}, which ExternalDNS {', '.join(writers)} "
            f"writes, {problem}: the records it publishes do not resolve in the cluster",
            evidence={
                "zone_id": zone.id,
                "instances": ",".join(writers),
                "cluster_vnets": ",".join(sorted(vnets)),
                "links": ",".join(
                    f"{link.name}->{link.virtual_network_id.rsplit('/', 1)[-1]}:{link.link_state}"
                    for link in zone.virtual_network_links
                )
                or "(none)",
            },
        )
    if unread:
        raise NotAssessed("; ".join(unread))


def _zones_of(
    cluster: inventory_pb2.ClusterInventory, instances: list[report_pb2.ExternalDnsInstance]
) -> list[inventory_pb2.PrivateDnsZone]:
    names = {instance_name(i) for i in instances}
    return [z for z in cluster.private_dns_zones if names & set(z.external_dns_instances)]


def _accepted_route_keys(report_: report_pb2.Report) -> set[tuple[str, str, str]]:
    return {
        (route.kind, route.namespace, route.name)
        for route in report_.gateway_api.routes
        if _accepted_parents(route)
    }


def _desired(
    scope: InstanceScope, report_: report_pb2.Report
) -> Iterator[report_pb2.DnsNameRequest]:
    """The names the instance would publish: from objects it watches, through annotations
    it reads, inside its filters; routes only once a parent Gateway accepted them."""
    accepted = _accepted_route_keys(report_)
    annotations = scope.hostname_annotations()
    for request in report_.external_dns.requested_names:
        if not scope.watches(request.kind, request.namespace):
            continue
        if request.annotation and request.annotation not in annotations:
            continue
        if request.kind.endswith("Route") and (
            (request.kind, request.namespace, request.name) not in accepted
        ):
            continue
        if scope.publishes(request.hostname):
            yield request


def _desired_records_missing(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A hostname an Ingress, Service or accepted Route asks an ``azure-private-dns``,
    ``azure`` or ``azure-dns`` instance for has no A, AAAA or CNAME record set in the zone it
    belongs to (domain.md §5 EDN-002)."""
    instances, unread = _azure_dns_instances(view)
    report_ = view.require_report()
    cluster = view.require_inventory()
    for instance in instances:
        name = instance_name(instance)
        try:
            scope = instance_scope(instance)
        except InvalidScope as exc:
            raise NotAssessed(str(exc)) from exc
        zones = instance_zones(cluster, name)
        seen: set[str] = set()
        for request in _desired(scope, report_):
            hostname = request.hostname.lower().rstrip(".")
            if hostname in seen:
                continue
            seen.add(hostname)
            zone = zone_for(hostname, zones)
            if zone is not None and has_address_record(zone, relative_name(hostname, zone)):
                continue
            yield _missing_finding(rule, view, name, request, hostname, zone, zones)
    if unread:
        raise NotAssessed("; ".join(unread))


def _missing_finding(
    rule: Rule,
    view: ClusterView,
    instance: str,
    request: report_pb2.DnsNameRequest,
    hostname: str,
    zone: DnsZone | None,
    zones: list[DnsZone],
) -> audit_pb2.Finding:
    source = f"{request.kind} {request.namespace}/{request.name}"
    where = (
        f"{_zone_kind(zone)} {zone.name} has no A, AAAA or CNAME record set "
        f"{relative_name(hostname, zone)}"
        if zone is not None
        else "none of the zones it writes holds that name ("
        + (", ".join(z.name for z in zones[:ZONE_SHOWN]) or "no zone matches its filters")
        + ")"
    )
    return rule.finding(
        view,
        resource=source,
        message=f"{source} asks ExternalDNS {instance} for {hostname}, but {where}: the "
        "name does not resolve",
        evidence={
            "hostname": hostname,
            "instance": instance,
            "zone": zone.id if zone is not None else "(none)",
            "annotation": request.annotation or "(spec)",
        },
    )


def _existing_objects(report_: report_pb2.Report) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of the objects that still ask ExternalDNS for names, and of
    the Ingresses, LoadBalancer Services and Routes the agent saw."""
    objects = {(r.kind, r.namespace, r.name) for r in report_.external_dns.requested_names}
    objects |= {("Ingress", i.namespace, i.name) for i in report_.ingress.ingresses}
    objects |= {("Service", s.namespace, s.name) for s in report_.load_balancer_services}
    objects |= {(r.kind, r.namespace, r.name) for r in report_.gateway_api.routes}
    return objects


def _orphan_records(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """TXT registry records ``external-dns/owner=<this instance's owner id>`` whose
    ``external-dns/resource`` object no longer exists or no longer asks for a name
    (domain.md §5 EDN-003): the records they own keep answering with old addresses."""
    instances, unread = _azure_dns_instances(view)
    cluster = view.require_inventory()
    existing = _existing_objects(view.require_report())
    for instance in instances:
        name = instance_name(instance)
        owner = instance.txt_owner_id or "default"
        seen: set[tuple[str, str]] = set()
        for zone in instance_zones(cluster, name):
            for record, resource in owned_resources(zone, owner):
                kind, _, rest = resource.partition("/")
                namespace, _, object_name = rest.partition("/")
                judged_kind = JUDGED_KINDS.get(kind.lower())
                if judged_kind is None or (judged_kind, namespace, object_name) in existing:
                    continue
                if (zone.id, resource) in seen:
                    continue
                seen.add((zone.id, resource))
                yield _orphan_finding(rule, view, name, owner, zone, record, resource)
    if unread:
        raise NotAssessed("; ".join(unread))


def _orphan_finding(
    rule: Rule,
    view: ClusterView,
    instance: str,
    owner: str,
    zone: DnsZone,
    record: inventory_pb2.DnsRecordSet,
    resource: str,
) -> audit_pb2.Finding:
    return rule.finding(
        view,
        resource=f"{_zone_kind(zone)} {zone.name} TXT {record.name}",
        message=f"TXT record {record.name} in {zone.name} says ExternalDNS {instance} "
        f"(owner {owner!r}) published names for {resource}, which no longer exists or no "
        "longer asks for a name: the records it owns are orphans",
        evidence={
            "zone_id": zone.id,
            "txt_record": record.name,
            "owner": owner,
            "owned_resource": resource,
            "instance": instance,
        },
    )


EDN_002 = Rule(
    id="EDN-002",
    title="Drift: desired record missing",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "A hostname that an Ingress, Service or accepted Route asks for but the zone does not"
        " hold does not resolve; ExternalDNS failing silently is a common cause."
    ),
    remediation=(
        "Read the ExternalDNS logs for the hostname; check its identity's role on the zone "
        "and its domain filters."
    ),
    references=(
        "https://github.com/kubernetes-sigs/external-dns/blob/master/docs/tutorials/azure.md",
    ),
    data_source=DataSource.BOTH,
    reads=(
        report("externaldns"),
        *(report("gateway_api", p, not_served_means_none=True) for p in GATEWAY_ROUTE_PLURALS),
        inventory("private_dns_zones"),
        inventory("public_dns_zones"),
    ),
    check=_desired_records_missing,
)


EDN_003 = Rule(
    id="EDN-003",
    title="Orphan records",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "Records whose owning object is gone keep answering with stale addresses, which can "
        "point traffic at reused IPs."
    ),
    remediation=(
        "Delete the orphaned records and their TXT registry entries, or let ExternalDNS run "
        "with --policy sync."
    ),
    references=(
        "https://github.com/kubernetes-sigs/external-dns/blob/master/docs/registry/txt.md",
    ),
    data_source=DataSource.BOTH,
    reads=(
        report("externaldns"),
        *(report("gateway_api", p, not_served_means_none=True) for p in GATEWAY_ROUTE_PLURALS),
        inventory("private_dns_zones"),
        inventory("public_dns_zones"),
    ),
    check=_orphan_records,
)


EDN_004 = Rule(
    id="EDN-004",
    title="Private zone not linked to VNet",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "Records ExternalDNS writes to an Azure private zone resolve only from VNets linked to it."
    ),
    remediation=(
        "Link the zone: az network private-dns link vnet create --zone-name <zone> --virtual-"
        "network <cluster vnet> ..."
    ),
    references=(
        "https://github.com/kubernetes-sigs/external-dns/blob/master/docs/tutorials/azure-private-dns.md",
    ),
    data_source=DataSource.ARM,
    reads=(
        report("externaldns", "deployments.apps/v1"),
        inventory("private_dns_zones"),
        inventory("virtual_networks"),
    ),
    check=_zone_not_linked,
)


def _identity_lacks_dns_role(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Each zone an Azure DNS instance writes where its identity holds no Private DNS Zone
    Contributor (public zones: DNS Zone Contributor; or Contributor / Owner) on the zone,
    or no Reader (or
    Contributor / Owner) on the zone's resource group (domain.md §5 EDN-006, EDNS
    tutorials). The identity is the one whose client id the Deployment names, matched to
    the cluster's identities (kubelet, add-ons, control plane) for its object id."""
    cluster = view.require_inventory()
    instances, unknown = _azure_dns_instances(view)
    if not instances and not unknown:
        raise DoesNotApply
    by_client = {
        p.client_id.lower(): p
        for p in cluster.identity.principals
        if p.client_id and p.principal_id
    }
    for instance in instances:
        name = instance_name(instance)
        client_id = instance.azure_client_id
        if not client_id:
            unknown.append(
                f"the Azure identity of ExternalDNS {name} is set in azure.json or by workload "
                "identity at pod admission, which the agent does not read"
            )
            continue
        principal = by_client.get(client_id.lower())
        if principal is None:
            unknown.append(
                f"client id {client_id} of ExternalDNS {name} is none of the cluster's "
                "identities; its object id is not read"
            )
            continue
        for zone in instance_zones(cluster, name):
            yield from _zone_grants(rule, view, name, principal, zone, unknown)
    if unknown:
        raise NotAssessed("; ".join(unknown))


def _zone_grants(
    rule: Rule,
    view: ClusterView,
    name: str,
    principal: inventory_pb2.IdentityPrincipal,
    zone: DnsZone,
    unknown: list[str],
) -> Iterator[audit_pb2.Finding]:
    read = role_grants.assignments_at(view.require_inventory(), zone.id)
    public = isinstance(zone, inventory_pb2.PublicDnsZone)
    zone_roles, zone_role = (
        (role_grants.PUBLIC_DNS_ROLES, "DNS Zone Contributor on the zone")
        if public
        else (role_grants.PRIVATE_DNS_ROLES, "Private DNS Zone Contributor on the zone")
    )
    if read is None:
        unknown.append(f"role assignments at {zone.id} were not read")
        return
    group = zone.id.split("/providers/", 1)[0]
    missing = []
    for scope_read, roles, needed in (
        (read, zone_roles, zone_role),
        (
            role_grants.at_or_above(read, group),
            role_grants.READ_ROLES,
            "Reader on its resource group",
        ),
    ):
        held = role_grants.grant(scope_read, [principal.principal_id], roles)
        if held.held:
            continue
        if held.unknown:
            unknown.append(
                f"the identity of ExternalDNS {name} holds only roles whose permissions are not "
                f"read ({held.unknown_roles()}) for {needed}"
            )
            continue
        missing.append(needed)
    if not missing:
        return
    yield rule.finding(
        view,
        resource=zone.id,
        message=f"ExternalDNS {name} writes {_zone_kind(zone)} {zone.name} with the "
        f"{principal.role} identity, which lacks {' and '.join(missing)}: its records are "
        "never written",
        evidence={
            "instance": name,
            "identity": principal.role,
            "principal_id": principal.principal_id,
            "missing": "; ".join(missing),
        },
    )


EDN_006 = Rule(
    id="EDN-006",
    title="ExternalDNS identity lacks DNS role",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "ExternalDNS needs DNS Zone Contributor (or Private DNS Zone Contributor) on the zone"
        " and Reader on its resource group; without them records are never written."
    ),
    remediation=(
        "Grant the roles: az role assignment create --assignee <identity> --role 'DNS Zone "
        "Contributor' --scope <zone id>."
    ),
    references=(
        "https://github.com/kubernetes-sigs/external-dns/blob/master/docs/tutorials/azure.md",
    ),
    data_source=DataSource.ARM,
    reads=(
        report("externaldns", "deployments.apps/v1"),
        inventory("cluster"),
        inventory("private_dns_zones"),
        inventory("public_dns_zones"),
        inventory("role_assignments"),
    ),
    check=_identity_lacks_dns_role,
)


def _scopes(view: ClusterView) -> tuple[list[InstanceScope], list[str]]:
    """Scopes of the ExternalDNS instances whose sources the agent saw, and the names of the
    others (sources set through a config file or the environment cannot be judged)."""
    scopes: list[InstanceScope] = []
    unknown: list[str] = []
    for instance in view.require_report().external_dns.instances:
        try:
            scope = instance_scope(instance)
        except InvalidScope as exc:
            raise NotAssessed(str(exc)) from exc
        if scope.sources:
            scopes.append(scope)
        else:
            unknown.append(scope.name)
    return scopes, unknown


# -- EDN-005 -----------------------------------------------------------------------------


def _prefix_of(annotation: str) -> str:
    for prefix in (ALPHA_PREFIX, GA_PREFIX):
        if annotation.startswith(prefix):
            return prefix
    return annotation.rsplit("/", 1)[0] + "/"


def _annotation_prefix_mismatch(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Objects whose ExternalDNS hostname annotations all carry a prefix that an instance
    watching them does not read (domain.md §5 EDN-005): v0.22+ reads only
    external-dns.kubernetes.io/, older versions only external-dns.alpha.kubernetes.io/,
    unless --annotation-prefix (or v0.23's --enable-legacy-annotation-prefix) says otherwise."""
    scopes, unknown = _scopes(view)
    objects: dict[tuple[str, str, str], list[report_pb2.DnsNameRequest]] = {}
    for request in view.require_report().external_dns.requested_names:
        if request.annotation:
            objects.setdefault((request.kind, request.namespace, request.name), []).append(request)
    undecided = [s.name for s in scopes if s.prefixes is None]
    for (kind, namespace, name), requests in sorted(objects.items()):
        carried = {_prefix_of(r.annotation) for r in requests}
        blind = [
            scope
            for scope in scopes
            if scope.prefixes is not None
            and scope.watches(kind, namespace)
            and any(scope.publishes(r.hostname) for r in requests)
            and not carried & scope.prefixes
        ]
        if blind:
            yield _mismatch_finding(rule, view, f"{kind} {namespace}/{name}", requests, blind)
    if objects and (unknown or undecided):
        raise NotAssessed(_undecided_reason(unknown, undecided))


def _undecided_reason(unknown: list[str], undecided: list[str]) -> str:
    reasons = []
    if unknown:
        reasons.append(f"no --source flag seen on ExternalDNS {', '.join(unknown)}")
    if undecided:
        reasons.append(
            f"the version of ExternalDNS {', '.join(undecided)} is not in its image tag and "
            "no --annotation-prefix is set, so its annotation prefix is unknown"
        )
    return "; ".join(reasons)


def _mismatch_finding(
    rule: Rule,
    view: ClusterView,
    resource: str,
    requests: list[report_pb2.DnsNameRequest],
    blind: list[InstanceScope],
) -> audit_pb2.Finding:
    annotations = sorted({r.annotation for r in requests})
    hostnames = sorted({r.hostname for r in requests})
    reads = sorted({prefix for scope in blind for prefix in scope.prefixes or ()})
    instances = ", ".join(
        f"{s.name} ({s.version or 'unknown version'}"
        f"{', --annotation-prefix' if s.explicit_prefix else ''})"
        for s in blind
    )
    return rule.finding(
        view,
        resource=resource,
        message=f"{resource} asks for {', '.join(hostnames)} through "
        f"{', '.join(annotations)}, but ExternalDNS {instances} reads only "
        f"{' and '.join(reads)} annotations: it ignores these and never publishes the names",
        evidence={
            "annotations": ",".join(annotations),
            "hostnames": ",".join(hostnames),
            "instances": ",".join(s.name for s in blind),
            "versions": ",".join(s.version for s in blind),
            "instance_prefixes": ",".join(reads),
        },
    )


EDN_005 = Rule(
    id="EDN-005",
    title="Annotation prefix mismatch",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="ExternalDNS v0.22.0 switched its annotation prefix from "
    "external-dns.alpha.kubernetes.io/ to external-dns.kubernetes.io/ with no fallback; "
    "objects annotated for the other prefix are ignored, so their names are never "
    "published, and with policy sync their existing records are deleted.",
    remediation="Annotate the objects with the prefix the instance reads, or set "
    "--annotation-prefix=external-dns.alpha.kubernetes.io/ on the ExternalDNS Deployment "
    "(v0.23+ also offers --enable-legacy-annotation-prefix while migrating); try the change "
    "with --dry-run=true first.",
    references=(
        "https://github.com/kubernetes-sigs/external-dns/releases/tag/v0.22.0",
        f"{EXTERNAL_DNS_DOCS}/annotations/annotations.md",
    ),
    data_source=DataSource.AGENT,
    reads=(report("externaldns"),),
    check=_annotation_prefix_mismatch,
)


# -- EDN-007 -----------------------------------------------------------------------------


def _routes_not_accepted(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Routes with hostnames that an instance's sources, namespace, Gateway and domain
    filters select but that no parent Gateway has accepted (status.parents without
    Accepted=True for the route's generation): ExternalDNS skips them (domain.md §5
    EDN-007, external-dns source/gateway.go ``gwRouteIsAccepted``)."""
    scopes, unknown = _scopes(view)
    for route in view.require_report().gateway_api.routes:
        if not route.parent_refs or _accepted_parents(route):
            continue
        watchers = [scope for scope in scopes if _selects(scope, route)]
        if watchers:
            yield _not_accepted_finding(rule, view, route, watchers)
    if unknown:
        raise NotAssessed(f"no --source flag seen on ExternalDNS {', '.join(unknown)}")


def _hostnames(scope: InstanceScope, route: report_pb2.Route) -> list[str]:
    names = list(route.hostnames)
    for key in sorted(scope.hostname_annotations()):
        if key in route.annotations:
            names += [n.strip() for n in route.annotations[key].split(",") if n.strip()]
    return names


def _selects(scope: InstanceScope, route: report_pb2.Route) -> bool:
    return (
        scope.watches(route.kind, route.namespace)
        and any(_is_gateway(p) and scope.gateway_in_scope(p) for p in route.parent_refs)
        and any(scope.publishes(h) for h in _hostnames(scope, route))
    )


def _is_gateway(reference: report_pb2.ObjectReference) -> bool:
    return reference.group == GATEWAY_GROUP and reference.kind == "Gateway"


def _same_parent(a: report_pb2.ObjectReference, b: report_pb2.ObjectReference) -> bool:
    return (a.group, a.kind, a.namespace, a.name) == (b.group, b.kind, b.namespace, b.name)


def _accepted_parents(route: report_pb2.Route) -> list[report_pb2.RouteParentStatus]:
    """Parents that are Gateways the route names in spec.parentRefs and whose first
    Accepted condition is True for the route's generation (when the agent saw one)."""
    return [
        parent
        for parent in route.parents
        if _is_gateway(parent.parent_ref)
        and any(_same_parent(parent.parent_ref, ref) for ref in route.parent_refs)
        and _accepted(parent, route.generation)
    ]


def _accepted(parent: report_pb2.RouteParentStatus, generation: int) -> bool:
    condition = _condition(parent, "Accepted")
    if condition is None or condition.status != "True":
        return False
    return not generation or condition.observed_generation == generation


def _condition(parent: report_pb2.RouteParentStatus, kind: str) -> report_pb2.Condition | None:
    return next((c for c in parent.conditions if c.type == kind), None)


def _parent_state(parent: report_pb2.RouteParentStatus, generation: int) -> str:
    condition = _condition(parent, "Accepted")
    if condition is None:
        return "no Accepted condition"
    state = f"Accepted={condition.status}" + (f" ({condition.reason})" if condition.reason else "")
    if condition.status == "True" and generation and condition.observed_generation != generation:
        state += f" for generation {condition.observed_generation}, route is at {generation}"
    return state


def _not_accepted_finding(
    rule: Rule, view: ClusterView, route: report_pb2.Route, watchers: list[InstanceScope]
) -> audit_pb2.Finding:
    resource = f"{route.kind} {route.namespace}/{route.name}"
    hostnames = sorted({h for scope in watchers for h in _hostnames(scope, route)})
    evidence: dict[str, object] = {
        "hostnames": ",".join(hostnames),
        "instances": ",".join(s.name for s in watchers),
        "parent_refs": ",".join(f"{p.namespace}/{p.name}" for p in route.parent_refs),
    }
    states = []
    for parent in route.parents:
        ref = f"{parent.parent_ref.namespace}/{parent.parent_ref.name}"
        state = _parent_state(parent, route.generation)
        evidence[f"parent.{ref}"] = state
        states.append(f"{ref}: {state}")
    why = "; ".join(states) if states else "no parent has written a status"
    return rule.finding(
        view,
        resource=resource,
        message=f"{resource} asks for {', '.join(hostnames)}, which ExternalDNS "
        f"{', '.join(s.name for s in watchers)} would publish, but no parent Gateway has "
        f"accepted it ({why}): ExternalDNS skips the route and its names do not resolve",
        evidence=evidence,
    )


EDN_007 = Rule(
    id="EDN-007",
    title="Routes skipped because not Accepted",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="ExternalDNS publishes a Route's hostnames only for parent Gateways whose "
    "status has Accepted=True for the Route's current generation; a rejected or "
    "not-yet-reconciled Route gets no DNS record, silently.",
    remediation="Fix why the Gateway rejects the route: kubectl describe the route and read "
    "status.parents[].conditions (NotAllowedByListeners: allow its namespace in the "
    "listener's allowedRoutes; NoMatchingListenerHostname: align hostnames; NoMatchingParent: "
    "fix parentRefs), or check that the Gateway's controller runs.",
    references=(
        f"{EXTERNAL_DNS_DOCS}/sources/gateway-api.md",
        "https://gateway-api.sigs.k8s.io/reference/spec/#routeconditiontype",
    ),
    data_source=DataSource.AGENT,
    reads=(
        report("externaldns", "deployments.apps/v1"),
        *(report("gateway_api", p, not_served_means_none=True) for p in GATEWAY_ROUTE_PLURALS),
    ),
    check=_routes_not_accepted,
)
