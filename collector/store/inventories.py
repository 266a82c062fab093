"""ARM inventories: one per cluster, the latest refresh wins."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from google.protobuf.message import DecodeError
from sqlalchemy.engine import Connection

from netaudit.collector.analysis.fleet import inventory_claims
from netaudit.collector.store.claims import INVENTORY_SOURCE, replace_claims
from netaudit.collector.store.clusters import (
    Sighting,
    cluster_key,
    record_sighting,
    subscription_of,
)
from netaudit.collector.store.engine import upsert
from netaudit.collector.store.errors import InvalidInventory, StoreError
from netaudit.collector.store.tables import clusters as clusters_table
from netaudit.collector.store.tables import inventories as inventories_table
from netaudit.v1 import inventory_pb2


def refreshed_at(inventory: inventory_pb2.ClusterInventory, now: datetime) -> datetime:
    if inventory.HasField("refreshed_at"):
        return inventory.refreshed_at.ToDatetime(tzinfo=UTC)
    return now


def save_inventory(
    connection: Connection, inventory: inventory_pb2.ClusterInventory, *, now: datetime
) -> bool:
    """Store the inventory unless a newer one is stored; whether it was."""
    key = cluster_key(inventory.arm_resource_id)
    if not key:
        raise InvalidInventory(
            f"inventory of cluster {inventory.name!r} has no arm_resource_id; "
            "the converter from ARM must set it"
        )
    refreshed = refreshed_at(inventory, now)
    record_sighting(
        connection,
        Sighting(
            key=key,
            name=inventory.name,
            region=inventory.location,
            subscription_id=(inventory.subscription_id or subscription_of(key)).lower(),
            seen_at=refreshed,
        ),
    )
    insert = upsert(connection, inventories_table).values(
        cluster_key=key,
        refreshed_at=refreshed,
        payload=inventory.SerializeToString(deterministic=True),
    )
    new = insert.excluded
    # RETURNING, not rowcount: PostgreSQL's driver reports -1 for an upsert whose WHERE
    # skipped the update, which would read as "stored".
    stored = connection.execute(
        insert.on_conflict_do_update(
            index_elements=[inventories_table.c.cluster_key],
            set_={"refreshed_at": new.refreshed_at, "payload": new.payload},
            # a retried or slow refresh must not overwrite a newer one
            where=new.refreshed_at >= inventories_table.c.refreshed_at,
        ).returning(inventories_table.c.cluster_key)
    ).first()
    if stored is not None:
        deleted = (
            inventory.deleted_at.ToDatetime(tzinfo=UTC)
            if inventory.HasField("deleted_at")
            else None
        )
        connection.execute(
            sa.update(clusters_table).where(clusters_table.c.key == key).values(deleted_at=deleted)
        )
        replace_claims(connection, key, INVENTORY_SOURCE, inventory_claims(inventory))
    return stored is not None


def inventory(connection: Connection, key: str) -> inventory_pb2.ClusterInventory | None:
    payload = connection.scalar(
        sa.select(inventories_table.c.payload).where(inventories_table.c.cluster_key == key)
    )
    return None if payload is None else _decode(key, payload)


def inventories(
    connection: Connection, keys: list[str]
) -> dict[str, inventory_pb2.ClusterInventory]:
    found: dict[str, inventory_pb2.ClusterInventory] = {}
    for start in range(0, len(keys), 500):
        rows = connection.execute(
            sa.select(inventories_table.c.cluster_key, inventories_table.c.payload).where(
                inventories_table.c.cluster_key.in_(keys[start : start + 500])
            )
        )
        for key, payload in rows:
            found[key] = _decode(key, payload)
    return found


def subscription_inventories(
    connection: Connection, subscription_id: str
) -> list[inventory_pb2.ClusterInventory]:
    """The stored inventories of one subscription's clusters (deleted ones included)."""
    rows = connection.execute(
        sa.select(inventories_table.c.cluster_key, inventories_table.c.payload)
        .join(clusters_table, clusters_table.c.key == inventories_table.c.cluster_key)
        .where(clusters_table.c.subscription_id == subscription_id.lower())
        .order_by(inventories_table.c.cluster_key)
    )
    return [_decode(key, payload) for key, payload in rows]


def all_inventories(connection: Connection) -> list[inventory_pb2.ClusterInventory]:
    rows = connection.execute(
        sa.select(inventories_table.c.cluster_key, inventories_table.c.payload).order_by(
            inventories_table.c.cluster_key
        )
    )
    return [_decode(key, payload) for key, payload in rows]


def _decode(key: str, payload: bytes) -> inventory_pb2.ClusterInventory:
    try:
        return inventory_pb2.ClusterInventory.FromString(payload)
    except DecodeError as error:
        raise StoreError(f"the stored inventory of {key} cannot be decoded: {error}") from error
