"""Metric samples computed when scans and refreshes run: per-cluster parts and the merged
snapshots a scrape reads. Payloads are opaque bytes here (the metrics package encodes them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.engine import upsert
from netaudit.collector.store.tables import (
    counters,
    findings,
    metric_parts,
    metric_snapshots,
    scans,
)


def save_parts(connection: Connection, parts: Mapping[str, bytes], *, now: datetime) -> None:
    if not parts:
        return
    insert = upsert(connection, metric_parts)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[metric_parts.c.cluster_key],
            set_={"computed_at": insert.excluded.computed_at, "payload": insert.excluded.payload},
        ),
        [
            {"cluster_key": key, "computed_at": now, "payload": payload}
            for key, payload in parts.items()
        ],
    )


def delete_parts(connection: Connection, keys: Sequence[str]) -> None:
    """Drop clusters' parts: their series stop at the next publication."""
    if keys:
        connection.execute(sa.delete(metric_parts).where(metric_parts.c.cluster_key.in_(keys)))


def parts(connection: Connection, *, after: str, limit: int | None) -> Iterator[tuple[str, bytes]]:
    query = (
        sa.select(metric_parts.c.cluster_key, metric_parts.c.payload)
        .where(metric_parts.c.cluster_key > after)
        .order_by(metric_parts.c.cluster_key)
    )
    rows = connection.execute(query if limit is None else query.limit(limit))
    for key, payload in rows:
        yield key, bytes(payload)


def save_snapshots(
    connection: Connection, snapshots: Mapping[str, bytes], *, now: datetime
) -> None:
    if not snapshots:
        return
    insert = upsert(connection, metric_snapshots)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[metric_snapshots.c.kind],
            set_={"computed_at": insert.excluded.computed_at, "payload": insert.excluded.payload},
        ),
        [
            {"kind": kind, "computed_at": now, "payload": payload}
            for kind, payload in snapshots.items()
        ],
    )


def snapshots(connection: Connection) -> dict[str, bytes]:
    rows = connection.execute(
        sa.select(metric_snapshots.c.kind, metric_snapshots.c.payload).order_by(
            metric_snapshots.c.kind
        )
    )
    return {kind: bytes(payload) for kind, payload in rows}


def open_findings_by_cluster(connection: Connection) -> dict[tuple[str, int], int]:
    """(cluster_key, severity) -> open findings."""
    rows = connection.execute(
        sa.select(findings.c.cluster_key, findings.c.severity, sa.func.count())
        .where(findings.c.resolved_at.is_(None))
        .group_by(findings.c.cluster_key, findings.c.severity)
    )
    return {(key, severity): count for key, severity, count in rows}


def scans_by_status(connection: Connection) -> dict[str, int]:
    """Finished scans by status: a running scan is not counted yet, so no count ever falls."""
    rows = connection.execute(
        sa.select(scans.c.status, sa.func.count())
        .where(scans.c.finished_at.is_not(None))
        .group_by(scans.c.status)
    )
    return {str(status): int(count) for status, count in rows}


def database_size_bytes(connection: Connection) -> int | None:
    """PostgreSQL's own figure for the database (SQLite: None, the caller stats the files)."""
    if connection.dialect.name != "postgresql":
        return None
    return int(connection.scalar(sa.text("SELECT pg_database_size(current_database())")) or 0)


def add_to_counters(connection: Connection, increments: Mapping[str, int]) -> None:
    rows = [{"name": name, "value": value} for name, value in increments.items() if value > 0]
    if not rows:
        return
    insert = upsert(connection, counters)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[counters.c.name],
            set_={"value": counters.c.value + insert.excluded.value},
        ),
        rows,
    )


def counter_values(connection: Connection) -> dict[str, int]:
    return {str(name): int(value) for name, value in connection.execute(sa.select(counters))}
