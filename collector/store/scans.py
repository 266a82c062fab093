"""Scans: one row per evaluation of the rules over the fleet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.errors import UnknownScan
from netaudit.collector.store.records import SCAN_FAILED, SCAN_RUNNING, ScanRecord
from netaudit.collector.store.tables import scans


def start_scan(connection: Connection, *, now: datetime) -> int:
    result = connection.execute(
        sa.insert(scans)
        .values(
            started_at=now,
            finished_at=None,
            status=SCAN_RUNNING,
            clusters=0,
            findings=0,
            error="",
        )
        .returning(scans.c.id)
    )
    return int(result.scalar_one())


def finish_scan(
    connection: Connection,
    scan_id: int,
    *,
    status: str,
    clusters: int,
    findings: int,
    error: str,
    now: datetime,
) -> bool:
    """Record the verdict of a running scan; False when it had already ended (failed at
    its deadline while a late task still ran): the first verdict is final."""
    updated = connection.execute(
        sa.update(scans)
        .where(scans.c.id == scan_id, scans.c.status == SCAN_RUNNING)
        .values(finished_at=now, status=status, clusters=clusters, findings=findings, error=error)
    )
    if updated.rowcount:
        return True
    if connection.scalar(sa.select(scans.c.id).where(scans.c.id == scan_id)) is None:
        raise UnknownScan(f"scan {scan_id} does not exist; finish only an id start_scan returned")
    return False


def running_scans(connection: Connection) -> list[ScanRecord]:
    """Scans not finished yet, oldest first."""
    rows = connection.execute(
        sa.select(scans).where(scans.c.finished_at.is_(None)).order_by(scans.c.id)
    )
    return [_record(row) for row in rows]


def fail_unfinished_scans(
    connection: Connection, *, started_before: datetime, error: str, now: datetime
) -> list[int]:
    """Mark failed, with `error`, every scan started before `started_before` and still
    running; a scan that finished meanwhile keeps its verdict. Returns their ids."""
    result = connection.execute(
        sa.update(scans)
        .where(scans.c.finished_at.is_(None), scans.c.started_at < started_before)
        .values(finished_at=now, status=SCAN_FAILED, error=error)
        .returning(scans.c.id)
    )
    return sorted(int(scan_id) for scan_id in result.scalars())


def discard_scan(connection: Connection, scan_id: int) -> bool:
    """Delete a scan that is still running and recorded nothing; False if it did."""
    deleted = connection.execute(
        sa.delete(scans).where(
            scans.c.id == scan_id, scans.c.status == SCAN_RUNNING, scans.c.clusters == 0
        )
    )
    return bool(deleted.rowcount)


def require_scan(connection: Connection, scan_id: int) -> None:
    if connection.scalar(sa.select(scans.c.id).where(scans.c.id == scan_id)) is None:
        raise UnknownScan(
            f"scan {scan_id} does not exist; record findings only for an id start_scan returned"
        )


def scan(connection: Connection, scan_id: int) -> ScanRecord | None:
    row = connection.execute(sa.select(scans).where(scans.c.id == scan_id)).first()
    return None if row is None else _record(row)


def last_scan(connection: Connection, *, finished: bool) -> ScanRecord | None:
    """The scan started last, or (finished=True) the one that finished last."""
    query = sa.select(scans).order_by(scans.c.id.desc()).limit(1)
    if finished:
        query = (
            sa.select(scans)
            .where(scans.c.finished_at.is_not(None))
            .order_by(scans.c.finished_at.desc(), scans.c.id.desc())
            .limit(1)
        )
    row = connection.execute(query).first()
    return None if row is None else _record(row)


def _record(row: sa.Row[Any]) -> ScanRecord:
    return ScanRecord(
        id=row.id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        clusters=row.clusters,
        findings=row.findings,
        error=row.error,
    )
