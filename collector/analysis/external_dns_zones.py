"""Which Azure DNS zones an ExternalDNS instance writes, and what it writes there
(kubernetes-sigs/external-dns ``provider/azure/azure_private_dns.go``,
``provider/azure/azure.go``, ``endpoint/domain_filter.go``, ``provider/zone_id_filter.go``,
``registry/txt.go``).

The ``azure-private-dns`` provider lists the private zones of one subscription (its
``--azure-subscription-id`` or azure.json's), of one resource group when
``--azure-resource-group`` is set, keeps those whose name its domain filters accept and
whose id ends with one of its ``--zone-id-filter`` values, and writes each hostname into
the zone with the longest matching name. The ``azure`` (alias ``azure-dns``) provider does
the same with the public zones (``Microsoft.Network/dnsZones``) of its resource group, and
also keeps a zone its ``--zone-name-filter`` accepts whatever the other filters say. The
resource group may come from azure.json, which the agent does not read: without the flag
every resource group of the subscription is taken. Shared by the inventory refresh (which
zones to read) and the EDN rules (what the read zones should hold). Pure: protobuf in,
values out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from netaudit.collector.analysis.external_dns_scope import InstanceScope, parse_flags
from netaudit.v1 import inventory_pb2, report_pb2

PRIVATE_DNS_PROVIDER = "azure-private-dns"
PUBLIC_DNS_PROVIDERS = frozenset({"azure", "azure-dns"})
OWNER_LABEL = "external-dns/owner"
RESOURCE_LABEL = "external-dns/resource"
ADDRESS_TYPES = frozenset({"A", "AAAA", "CNAME"})

DnsZone = inventory_pb2.PrivateDnsZone | inventory_pb2.PublicDnsZone
"""A zone ExternalDNS writes: both kinds carry ``id``, ``name``, ``record_sets`` and
``external_dns_instances``."""


def instance_name(instance: report_pb2.ExternalDnsInstance) -> str:
    return f"{instance.workload.namespace}/{instance.workload.name}"


def zone_selection(
    instance: report_pb2.ExternalDnsInstance, cluster_subscription: str
) -> inventory_pb2.ExternalDnsZoneSelection | None:
    """How an ``azure-private-dns``, ``azure`` or ``azure-dns`` instance selects zones; None
    for other providers."""
    provider = instance.provider.lower()
    if provider != PRIVATE_DNS_PROVIDER and provider not in PUBLIC_DNS_PROVIDERS:
        return None
    flags = parse_flags(list(instance.workload.args))
    selection = inventory_pb2.ExternalDnsZoneSelection(
        instance=instance_name(instance),
        provider=instance.provider,
        domain_filters=list(instance.domain_filters),
        resource_group=flags.get("azure-resource-group", [""])[-1],
        subscription_id=flags.get("azure-subscription-id", [""])[-1] or cluster_subscription,
        zone_id_filters=_values(flags.get("zone-id-filter", [])),
    )
    if provider in PUBLIC_DNS_PROVIDERS:
        selection.zone_name_filters.extend(_values(flags.get("zone-name-filter", [])))
    return selection


def is_public(selection: inventory_pb2.ExternalDnsZoneSelection) -> bool:
    """Whether the selection is of public zones (``Microsoft.Network/dnsZones``)."""
    return selection.provider.lower() in PUBLIC_DNS_PROVIDERS


def _values(flag_values: list[str]) -> list[str]:
    return [v for value in flag_values for v in value.split(",")]


def zone_selections(
    report: report_pb2.Report | None, cluster_subscription: str
) -> list[inventory_pb2.ExternalDnsZoneSelection]:
    if report is None:
        return []
    selections = (zone_selection(i, cluster_subscription) for i in report.external_dns.instances)
    return [s for s in selections if s is not None]


def same_selection(
    a: inventory_pb2.ExternalDnsZoneSelection, b: inventory_pb2.ExternalDnsZoneSelection
) -> bool:
    """Equal up to the case ARM ignores (subscription, resource group, zone ids)."""
    return (
        a.instance == b.instance
        and a.provider.lower() == b.provider.lower()
        and list(a.domain_filters) == list(b.domain_filters)
        and a.resource_group.lower() == b.resource_group.lower()
        and a.subscription_id.lower() == b.subscription_id.lower()
        and [f.lower() for f in a.zone_id_filters] == [f.lower() for f in b.zone_id_filters]
        and list(a.zone_name_filters) == list(b.zone_name_filters)
    )


def selects(
    selection: inventory_pb2.ExternalDnsZoneSelection,
    zone_id: str,
    zone_name: str,
    scope: InstanceScope | None = None,
) -> bool:
    """Whether the instance writes this zone. ``scope`` (the instance's flags) adds the
    exclusions and regex filters; without it only the domain filters are applied."""
    if _id_part(zone_id, "subscriptions") != selection.subscription_id.lower():
        return False
    group = selection.resource_group.lower()
    if group and _id_part(zone_id, "resourcegroups") != group:
        return False
    name_filters = _filters(selection.zone_name_filters)
    if name_filters and _domain_match(name_filters, zone_name):
        return True
    id_filters = [f.lower() for f in selection.zone_id_filters if f]
    if id_filters and not any(zone_id.lower().endswith(f) for f in id_filters):
        return False
    if scope is not None:
        return scope.publishes(zone_name)
    filters = _filters(selection.domain_filters)
    return not filters or _domain_match(filters, zone_name)


def _filters(values: Iterable[str]) -> list[str]:
    filters = (f.strip().lower().rstrip(".") for v in values for f in v.split(","))
    return [f for f in filters if f]


def _domain_match(filters: list[str], zone_name: str) -> bool:
    name = zone_name.lower().rstrip(".")
    return any(
        name.endswith(f) if f.startswith(".") else name == f or name.endswith("." + f)
        for f in filters
    )


def instance_zones(cluster: inventory_pb2.ClusterInventory, instance: str) -> list[DnsZone]:
    """The zones (private or public) the refresh read for this instance."""
    zones: list[DnsZone] = [*cluster.private_dns_zones, *cluster.public_dns_zones]
    return [z for z in zones if instance in z.external_dns_instances]


def recorded_selection(
    cluster: inventory_pb2.ClusterInventory, instance: str
) -> inventory_pb2.ExternalDnsZoneSelection | None:
    return next((s for s in cluster.external_dns_zone_selections if s.instance == instance), None)


def zone_for(hostname: str, zones: Sequence[DnsZone]) -> DnsZone | None:
    """The zone ExternalDNS writes ``hostname`` into: the longest zone name it ends with."""
    name = hostname.lower().rstrip(".")
    matching = [
        z
        for z in zones
        if name == (zone := z.name.lower().rstrip(".")) or name.endswith("." + zone)
    ]
    return max(matching, key=lambda z: len(z.name), default=None)


def relative_name(hostname: str, zone: DnsZone) -> str:
    """The record set name of ``hostname`` in ``zone`` ("@" for the apex)."""
    name = hostname.lower().rstrip(".")
    zone_name = zone.name.lower().rstrip(".")
    return "@" if name == zone_name else name[: -len(zone_name) - 1]


def has_address_record(zone: DnsZone, name: str) -> bool:
    return any(r.name.lower() == name and r.type.upper() in ADDRESS_TYPES for r in zone.record_sets)


def txt_labels(value: str) -> dict[str, str]:
    """The labels of an ExternalDNS TXT registry record
    (``"heritage=external-dns,external-dns/owner=x,external-dns/resource=ingress/ns/n"``);
    empty when the value is not one."""
    text = value.strip().strip('"')
    labels: dict[str, str] = {}
    for part in text.split(","):
        key, sep, label = part.partition("=")
        if sep:
            labels[key.strip()] = label.strip()
    return labels if labels.get("heritage") == "external-dns" else {}


def owned_resources(
    zone: DnsZone, owner_id: str
) -> Iterable[tuple[inventory_pb2.DnsRecordSet, str]]:
    """(TXT record set, ``kind/namespace/name``) of the registry records ``owner_id`` wrote."""
    for record in zone.record_sets:
        if record.type.upper() != "TXT":
            continue
        for value in record.values:
            labels = txt_labels(value)
            if labels.get(OWNER_LABEL) == owner_id and labels.get(RESOURCE_LABEL):
                yield record, labels[RESOURCE_LABEL]


def _id_part(resource_id: str, segment: str) -> str:
    parts = resource_id.strip("/").lower().split("/")
    for name, value in zip(parts[::2], parts[1::2], strict=False):
        if name == segment:
            return value
    return ""
