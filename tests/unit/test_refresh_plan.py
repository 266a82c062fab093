"""Which clusters an incremental refresh reads in detail, keeps, or marks deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from netaudit.collector.inventory.refresh_plan import marked_deleted, plan_refresh, why_read
from netaudit.v1 import inventory_pb2

T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 2, tzinfo=UTC)
ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a"


def inventory(
    state: str = "Succeeded",
    modified: datetime | None = T1,
    gaps: int = 0,
    deleted: bool = False,
    cluster_id: str = ID,
) -> inventory_pb2.ClusterInventory:
    made = inventory_pb2.ClusterInventory(arm_resource_id=cluster_id, provisioning_state=state)
    if modified is not None:
        made.last_modified_at.FromDatetime(modified)
    for _ in range(gaps):
        made.gaps.add(resource_id="x", reason="forbidden")
    if deleted:
        made.deleted_at.FromDatetime(T1)
    return made


@pytest.mark.parametrize(
    ("listed", "stored", "reason"),
    [
        (inventory(), None, "new"),
        (inventory(), inventory(), None),
        (inventory(modified=T2), inventory(), "modified"),
        (inventory(state="Updating"), inventory(), "provisioning state changed"),
        (inventory(modified=None), inventory(), "last modification unknown"),
        (inventory(), inventory(modified=None), "last modification unknown"),
        (inventory(), inventory(gaps=1), "gaps last time"),
        (inventory(), inventory(deleted=True), "back after deletion"),
    ],
)
def test_why_read(
    listed: inventory_pb2.ClusterInventory,
    stored: inventory_pb2.ClusterInventory | None,
    reason: str | None,
) -> None:
    assert why_read(listed, stored) == reason


def test_details_older_than_the_maximum_age_are_read_again() -> None:
    stored = inventory()
    assert why_read(inventory(), stored, details_since=T1) == "details too old", "never read"
    stored.details_read_at.FromDatetime(T1)
    assert why_read(inventory(), stored, details_since=T1) is None
    assert why_read(inventory(), stored, details_since=T2) == "details too old"
    assert why_read(inventory(), stored) is None, "no maximum age"


def test_plan_keeps_unchanged_reads_changed_and_finds_the_gone() -> None:
    other = ID[:-1] + "b"
    gone = ID[:-1] + "c"
    stored = [inventory(), inventory(cluster_id=other), inventory(cluster_id=gone)]
    listed = [
        ({"id": ID}, inventory()),
        ({"id": other.upper()}, inventory(modified=T2, cluster_id=other.upper())),
    ]
    plan = plan_refresh(listed, stored)
    assert [body["id"] for body, _ in plan.keep] == [ID]
    assert [(body["id"], why) for body, why in plan.read] == [(other.upper(), "modified")]
    assert [i.arm_resource_id for i in plan.gone] == [gone]


def test_full_refresh_reads_everything_and_deleted_ones_are_not_gone_twice() -> None:
    stored = [inventory(), inventory(cluster_id=ID + "x", deleted=True)]
    plan = plan_refresh([({"id": ID}, inventory())], stored, full=True)
    assert [why for _, why in plan.read] == ["full refresh"]
    assert plan.keep == [] and plan.gone == []


def test_marked_deleted_is_a_copy_with_the_time() -> None:
    stored = inventory()
    deleted = marked_deleted(stored, T2)
    assert deleted.deleted_at.ToDatetime(tzinfo=UTC) == T2
    assert deleted.refreshed_at.ToDatetime(tzinfo=UTC) == T2
    assert not stored.HasField("deleted_at")
