"""Agent reports: idempotent commit by report id, latest by (epoch, sequence), retention."""

from __future__ import annotations

import logging
from datetime import datetime
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
from netaudit.collector.store.errors import InvalidReport, StoreError
from netaudit.collector.store.records import CommitOutcome, StoredReport
from netaudit.collector.store.tables import reports
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 10

_NEWEST_FIRST = (
    reports.c.agent_epoch.desc(),
    reports.c.sequence.desc(),
    reports.c.received_at.desc(),
    reports.c.id.desc(),
)


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
) -> CommitOutcome:
    key = validate(report)
    if _already_committed(connection, report.report_id):
        return CommitOutcome.DUPLICATE
    # The cluster upsert comes first: on PostgreSQL its row lock serializes the
    # commits (and the pruning) of one cluster.
    record_sighting(
        connection,
        Sighting(
            key=key,
            name=report.cluster.name,
            region=report.cluster.region,
            subscription_id=subscription_of(report.cluster.arm_resource_id),
            seen_at=received_at,
        ),
    )
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
    _prune(connection, key, retention)
    if _is_latest(connection, key, report.report_id):
        replace_claims(connection, key, REPORT_SOURCE, report_claims(report))
    return CommitOutcome.COMMITTED


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
