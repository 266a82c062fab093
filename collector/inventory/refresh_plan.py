"""Which listed clusters an incremental refresh reads in detail, which it keeps, and which
ARM no longer knows.

A listed cluster's details (subnets, VNets, NSGs, zones, endpoints, gateways) are read
again when it is new, when its ``systemData.lastModifiedAt`` or provisioning state differ
from the stored inventory's, when either time is unknown (unknown is never "unchanged"),
when the stored inventory had gaps, when its details are older than the configured
maximum age (NSGs, zones and peerings change without the cluster changing), or when a
full refresh is asked for. The others keep
their stored details; their usages are read every refresh all the same. ARM's 304 for
``If-None-Match`` is not relied on (it is not reliably sent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from netaudit.v1 import inventory_pb2

Payload = dict[str, Any]


@dataclass
class RefreshPlan:
    """``read``: (listed body, why); ``keep``: (listed body, stored inventory);
    ``gone``: stored inventories of the subscription ARM did not list."""

    read: list[tuple[Payload, str]] = field(default_factory=list)
    keep: list[tuple[Payload, inventory_pb2.ClusterInventory]] = field(default_factory=list)
    gone: list[inventory_pb2.ClusterInventory] = field(default_factory=list)


def why_read(
    listed: inventory_pb2.ClusterInventory,
    stored: inventory_pb2.ClusterInventory | None,
    *,
    details_since: datetime | None = None,
) -> str | None:
    """Why the cluster's details must be read again; None when the stored ones still hold.
    ``details_since``: details read before then are too old (unset: never too old)."""
    if stored is None:
        return "new"
    if stored.HasField("deleted_at"):
        return "back after deletion"
    if stored.gaps:
        return "gaps last time"
    if details_since is not None and (
        not stored.HasField("details_read_at")
        or stored.details_read_at.ToDatetime(tzinfo=UTC) < details_since
    ):
        return "details too old"
    if listed.provisioning_state != stored.provisioning_state:
        return "provisioning state changed"
    if not listed.HasField("last_modified_at") or not stored.HasField("last_modified_at"):
        return "last modification unknown"
    if listed.last_modified_at != stored.last_modified_at:
        return "modified"
    return None


def plan_refresh(
    listed: Iterable[tuple[Payload, inventory_pb2.ClusterInventory]],
    stored: Iterable[inventory_pb2.ClusterInventory],
    *,
    full: bool = False,
    details_since: datetime | None = None,
) -> RefreshPlan:
    """The plan for one subscription: ``listed`` pairs each listed body with its
    conversion, ``stored`` are the subscription's stored inventories."""
    previous = {i.arm_resource_id.lower(): i for i in stored}
    plan = RefreshPlan()
    seen: set[str] = set()
    for body, inventory in listed:
        key = inventory.arm_resource_id.lower()
        seen.add(key)
        old = previous.get(key)
        reason = "full refresh" if full else why_read(inventory, old, details_since=details_since)
        if reason is None and old is not None:
            plan.keep.append((body, old))
        else:
            plan.read.append((body, reason or "new"))
    plan.gone = [
        inventory
        for key, inventory in sorted(previous.items())
        if key not in seen and not inventory.HasField("deleted_at")
    ]
    return plan


def marked_deleted(
    inventory: inventory_pb2.ClusterInventory, at: datetime
) -> inventory_pb2.ClusterInventory:
    """A copy of the stored inventory saying ARM no longer lists the cluster since ``at``."""
    deleted = inventory_pb2.ClusterInventory()
    deleted.CopyFrom(inventory)
    deleted.deleted_at.FromDatetime(at)
    deleted.refreshed_at.FromDatetime(at)
    return deleted
