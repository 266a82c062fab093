"""Fleet claims (audit.proto FleetClaim): what each cluster uses that others may share.

A cluster's claims from one source ("inventory" or "report") are replaced
whenever that source is stored, so the fleet-wide step reads a few rows per
cluster, grouped by the shared resource in SQL, and loads only the groups
that more than one claim shares.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from google.protobuf.message import DecodeError
from sqlalchemy.engine import Connection

from netaudit.collector.analysis.fleet import claim_kind, claim_resource
from netaudit.collector.store.errors import StoreError
from netaudit.collector.store.tables import fleet_claims
from netaudit.v1 import audit_pb2

INVENTORY_SOURCE = "inventory"
REPORT_SOURCE = "report"
_IN_CHUNK = 500


def replace_claims(
    connection: Connection, key: str, source: str, claims: Sequence[audit_pb2.FleetClaim]
) -> None:
    connection.execute(
        sa.delete(fleet_claims).where(
            fleet_claims.c.cluster_key == key, fleet_claims.c.source == source
        )
    )
    rows = [
        {
            "kind": claim_kind(claim),
            "resource_key": claim_resource(claim),
            "cluster_key": key,
            "source": source,
            "item": item,
            "payload": claim.SerializeToString(deterministic=True),
        }
        for item, claim in enumerate(claims)
    ]
    if rows:
        connection.execute(sa.insert(fleet_claims), rows)


def shared_groups(
    connection: Connection, kind: str, *, per_claim: bool
) -> Iterator[tuple[str, list[audit_pb2.FleetClaim]]]:
    """(resource, claims) for every resource of ``kind`` that several clusters claim
    (``per_claim``: several claims, so two instances in one cluster count too)."""
    counted = (
        sa.func.count() if per_claim else sa.func.count(sa.distinct(fleet_claims.c.cluster_key))
    )
    shared = list(
        connection.scalars(
            sa.select(fleet_claims.c.resource_key)
            .where(fleet_claims.c.kind == kind)
            .group_by(fleet_claims.c.resource_key)
            .having(counted > 1)
            .order_by(fleet_claims.c.resource_key)
        )
    )
    for start in range(0, len(shared), _IN_CHUNK):
        chunk = shared[start : start + _IN_CHUNK]
        groups: dict[str, list[audit_pb2.FleetClaim]] = {}
        rows = connection.execute(
            sa.select(fleet_claims.c.resource_key, fleet_claims.c.payload)
            .where(fleet_claims.c.kind == kind, fleet_claims.c.resource_key.in_(chunk))
            .order_by(fleet_claims.c.resource_key, fleet_claims.c.cluster_key, fleet_claims.c.item)
        )
        for resource, payload in rows:
            groups.setdefault(resource, []).append(_decode(payload))
        yield from groups.items()


def _decode(payload: bytes) -> audit_pb2.FleetClaim:
    try:
        return audit_pb2.FleetClaim.FromString(payload)
    except DecodeError as error:
        raise StoreError(f"a stored fleet claim cannot be decoded: {error}") from error
