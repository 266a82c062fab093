"""Agent reports: idempotent commit by report id, latest by commit order, retention.

The latest report of a cluster is the one the collector committed last (the
autoincrement ``reports.id``: commits of one cluster are serialized, by SQLite's
write lock or by the cluster row's lock on PostgreSQL). The client-declared
(agent epoch, sequence) never orders reports across agents: one forged epoch of
2**62 would otherwise stay "latest" for good. It only detects replays within one
agent run: a report whose sequence is not after one already committed from the same
(agent id, agent epoch) is refused (StaleReport), among the reports that retention
keeps.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import DecodeError
from sqlalchemy.engine import Connection

from netaudit.collector.analysis.fleet import report_claims
from netaudit.collector.store.claims import REPORT_SOURCE, replace_claims
from netaudit.collector.store.clusters import (
    Sighting,
    cluster_key,
    record_report_arrival,
    record_sighting,
    subscription_of,
)
from netaudit.collector.store.engine import upsert
from netaudit.collector.store.errors import (
    InvalidReport,
    ReportContradictsInventory,
    StaleReport,
    StoreError,
)
from netaudit.collector.store.inventories import inventory as stored_inventory
from netaudit.collector.store.records import CommitOutcome, StoredReport
from netaudit.collector.store.report_requests import mark_answered
from netaudit.collector.store.tables import reports
from netaudit.v1 import inventory_pb2, report_pb2

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 10

# Commit order: ids grow with every insert, and the newest row is never pruned.
_NEWEST_FIRST = (reports.c.id.desc(),)


def validate(report: report_pb2.Report) -> str:
    """The report's cluster key; raises InvalidReport for a report the store must refuse."""
    if not report.report_id:
        raise InvalidReport("report has no report_id; the agent must set one per report")
    key = cluster_key(report.cluster.arm_resource_id)
    if not key:
        raise InvalidReport(
            f"report {report.report_id} has no cluster.arm_resource_id; "
            "set the agent's cluster resource id"
        )
    return key


def commit_report(
    connection: Connection,
    report: report_pb2.Report,
    *,
    agent_id: str,
    received_at: datetime,
    retention: int,
    payload: bytes | bytearray | None = None,
) -> CommitOutcome:
    key = validate(report)
    if _already_committed(connection, report.report_id):
        return CommitOutcome.DUPLICATE
    inventory = stored_inventory(connection, key)
    if inventory is not None:
        _require_agreement(report, inventory)
    # The cluster upsert comes first: on PostgreSQL its row lock serializes the
    # commits (and the pruning) of one cluster, so commit order is id order.
    # With an inventory, ARM names the cluster (the report agrees, up to casing).
    record_sighting(
        connection,
        Sighting(
            key=key,
            name="" if inventory is not None else report.cluster.name,
            region="" if inventory is not None else report.cluster.region,
            subscription_id=subscription_of(report.cluster.arm_resource_id),
            seen_at=received_at,
        ),
    )
    _require_newer_sequence(connection, key, agent_id, report)
    if payload is None:
        payload = report.SerializeToString(deterministic=True)
    inserted = connection.execute(
        upsert(connection, reports)
        .values(
            cluster_key=key,
            report_id=report.report_id,
            agent_id=agent_id,
            agent_epoch=report.agent_epoch,
            sequence=report.sequence,
            received_at=received_at,
            size=len(payload),
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=[reports.c.report_id])
    )
    if inserted.rowcount == 0:  # committed by a concurrent stream since the check above
        return CommitOutcome.DUPLICATE
    record_report_arrival(connection, key, agent_id, received_at)
    mark_answered(connection, report.answers_request_ids, key, report.report_id, now=received_at)
    _prune(connection, key, retention)
    if _is_latest(connection, key, report.report_id):
        replace_claims(connection, key, REPORT_SOURCE, report_claims(report))
    return CommitOutcome.COMMITTED


def _require_agreement(
    report: report_pb2.Report, inventory: inventory_pb2.ClusterInventory
) -> None:
    """The report's cluster name and region are the inventory's, when it states them.
    (The Kubernetes version is not compared: it changes during an upgrade.)"""
    named, region = report.cluster.name, report.cluster.region
    if named and named.casefold() != inventory.name.casefold():
        raise ReportContradictsInventory(
            f"report {report.report_id} names cluster {named!r}, but ARM names "
            f"{inventory.arm_resource_id} {inventory.name!r}; set the agent's cluster.name to "
            f"{inventory.name!r} or leave it unset"
        )
    if region and _region(region) != _region(inventory.location):
        raise ReportContradictsInventory(
            f"report {report.report_id} places cluster {inventory.name!r} in {region!r}, but "
            f"ARM has it in {inventory.location!r}; set the agent's cluster.region to "
            f"{inventory.location!r}"
        )


def _region(name: str) -> str:
    """ARM location form: "West Europe" and "westeurope" are one region."""
    return "".join(name.split()).casefold()


def _require_newer_sequence(
    connection: Connection, key: str, agent_id: str, report: report_pb2.Report
) -> None:
    """Refuse a replay: a sequence not after one committed from this agent run."""
    committed = connection.scalar(
        sa.select(sa.func.max(reports.c.sequence)).where(
            reports.c.cluster_key == key,
            reports.c.agent_epoch == report.agent_epoch,
            reports.c.agent_id == agent_id,
        )
    )
    if committed is not None and report.sequence <= committed:
        raise StaleReport(
            f"report {report.report_id} of agent {agent_id!r} (epoch {report.agent_epoch}) "
            f"has sequence {report.sequence}, not after {committed} already committed from "
            "that agent run: a replay, or a resend under a new report id; not stored"
        )


def _is_latest(connection: Connection, key: str, report_id: str) -> bool:
    latest = connection.scalar(
        sa.select(reports.c.report_id)
        .where(reports.c.cluster_key == key)
        .order_by(*_NEWEST_FIRST)
        .limit(1)
    )
    return bool(latest == report_id)


def _already_committed(connection: Connection, report_id: str) -> bool:
    found = connection.execute(
        sa.select(reports.c.id).where(reports.c.report_id == report_id)
    ).first()
    return found is not None


def _prune(connection: Connection, key: str, retention: int) -> None:
    kept = (
        sa.select(reports.c.id)
        .where(reports.c.cluster_key == key)
        .order_by(*_NEWEST_FIRST)
        .limit(retention)
    )
    pruned = connection.execute(
        sa.delete(reports).where(reports.c.cluster_key == key, reports.c.id.not_in(kept))
    )
    if pruned.rowcount:
        log.debug("pruned %d report(s) of %s beyond the latest %d", pruned.rowcount, key, retention)


def latest_report(connection: Connection, key: str) -> StoredReport | None:
    row = connection.execute(
        sa.select(
            reports.c.cluster_key, reports.c.payload, reports.c.received_at, reports.c.agent_id
        )
        .where(reports.c.cluster_key == key)
        .order_by(*_NEWEST_FIRST)
        .limit(1)
    ).first()
    return None if row is None else _stored(row)


def all_latest_reports(connection: Connection) -> list[StoredReport]:
    return _latest(connection, None)


def latest_reports(connection: Connection, keys: list[str]) -> dict[str, StoredReport]:
    """The latest report of each of ``keys`` that has one (one query per 500 keys)."""
    found: dict[str, StoredReport] = {}
    for start in range(0, len(keys), 500):
        for stored in _latest(connection, keys[start : start + 500]):
            found[stored.cluster_key] = stored
    return found


def _latest(connection: Connection, keys: list[str] | None) -> list[StoredReport]:
    scope = sa.true() if keys is None else reports.c.cluster_key.in_(keys)
    ranked = (
        sa.select(
            reports.c.cluster_key,
            reports.c.payload,
            reports.c.received_at,
            reports.c.agent_id,
            sa.func.row_number()
            .over(partition_by=reports.c.cluster_key, order_by=_NEWEST_FIRST)
            .label("rank"),
        )
        .where(scope)
        .subquery()
    )
    rows = connection.execute(
        sa.select(ranked.c.cluster_key, ranked.c.payload, ranked.c.received_at, ranked.c.agent_id)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.cluster_key)
    )
    return [_stored(row) for row in rows]


def earlier_reports(
    connection: Connection, keys: list[str], min_age: timedelta
) -> dict[str, StoredReport]:
    """For each of ``keys``, the newest report committed at least ``min_age`` before its
    latest one (by ``received_at``), when retention still keeps one: a row scan of the few
    kept reports' times, then one payload query."""
    times: dict[str, list[tuple[int, datetime]]] = {}
    for start in range(0, len(keys), 500):
        rows = connection.execute(
            sa.select(reports.c.cluster_key, reports.c.id, reports.c.received_at).where(
                reports.c.cluster_key.in_(keys[start : start + 500])
            )
        )
        for row in rows:
            times.setdefault(row.cluster_key, []).append((row.id, row.received_at))
    chosen = [
        row_id for kept in times.values() if (row_id := _newest_before(kept, min_age)) is not None
    ]
    found: dict[str, StoredReport] = {}
    for start in range(0, len(chosen), 500):
        rows = connection.execute(
            sa.select(
                reports.c.cluster_key, reports.c.payload, reports.c.received_at, reports.c.agent_id
            ).where(reports.c.id.in_(chosen[start : start + 500]))
        )
        for row in rows:
            found[row.cluster_key] = _stored(row)
    return found


def _newest_before(kept: list[tuple[int, datetime]], min_age: timedelta) -> int | None:
    """The id of the newest of ``kept`` (id, received_at) received ``min_age`` or more before
    the latest (highest id) one."""
    latest_at = max(kept)[1]
    older = [(row_id, at) for row_id, at in kept if at <= latest_at - min_age]
    return max(older)[0] if older else None


def report_count(connection: Connection, key: str) -> int:
    count = connection.scalar(
        sa.select(sa.func.count()).select_from(reports).where(reports.c.cluster_key == key)
    )
    return int(count or 0)


def _stored(row: sa.Row[*tuple[Any, ...]]) -> StoredReport:
    key: str = row.cluster_key
    try:
        report = report_pb2.Report.FromString(row.payload)
    except DecodeError as error:
        raise StoreError(f"the stored latest report of {key} cannot be decoded: {error}") from error
    return StoredReport(
        cluster_key=key, report=report, received_at=row.received_at, agent_id=row.agent_id
    )
