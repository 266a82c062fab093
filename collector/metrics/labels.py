"""Label values read from ARM resource ids (compared case-insensitively, as ARM requires)."""

from __future__ import annotations

from netaudit.v1 import audit_pb2


def _after(parts: list[str], lowered: list[str], segment: str) -> str:
    return parts[lowered.index(segment) + 1] if segment in lowered[:-1] else ""


def network_label_values(resource_id: str) -> tuple[str, str, str, str]:
    """(subscription, resource group, VNet, subnet) of a subnet's or a VNet's ARM id; the
    subscription and group lower-cased (ARM's casing of them varies), names as given."""
    parts = resource_id.strip().strip("/").split("/")
    lowered = [p.lower() for p in parts]
    return (
        _after(parts, lowered, "subscriptions").lower(),
        _after(parts, lowered, "resourcegroups").lower(),
        _after(parts, lowered, "virtualnetworks"),
        _after(parts, lowered, "subnets"),
    )


def cluster_label_values(cluster_key: str, name: str = "") -> tuple[str, str, str]:
    """(subscription, resource group, cluster name) from the cluster's ARM id."""
    parts = cluster_key.strip().strip("/").split("/")
    lowered = [p.lower() for p in parts]
    return (
        _after(parts, lowered, "subscriptions").lower(),
        _after(parts, lowered, "resourcegroups").lower(),
        name or _after(parts, lowered, "managedclusters"),
    )


def severity_name(value: int) -> str:
    """``SEVERITY_HIGH`` -> ``high``."""
    return (
        audit_pb2.Severity.Name(audit_pb2.Severity.ValueType(value))
        .removeprefix("SEVERITY_")
        .lower()
    )
