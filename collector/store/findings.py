"""Findings keyed by fingerprint: first seen kept, last seen refreshed, resolved on absence."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.reports.fingerprints import fingerprint
from netaudit.collector.store.clusters import cluster_key, lock_cluster
from netaudit.collector.store.engine import upsert
from netaudit.collector.store.errors import InvalidFinding
from netaudit.collector.store.records import StoredFinding
from netaudit.collector.store.scans import require_scan
from netaudit.collector.store.tables import findings
from netaudit.v1 import audit_pb2

log = logging.getLogger(__name__)

# Well below SQLite's limit of bound parameters in one statement.
_IN_CHUNK = 500


CLUSTER_SCOPE = "cluster"
FLEET_SCOPE = "fleet"


def record_findings(
    connection: Connection,
    scan_id: int,
    key: str,
    verdicts: Iterable[audit_pb2.Finding],
    *,
    now: datetime,
) -> None:
    """One cluster's findings from an evaluation in which every rule was assessed:
    upsert them and resolve the cluster's other open findings."""
    lock_cluster(connection, key)
    require_scan(connection, scan_id)
    rows = finding_rows(key, verdicts, scan_id, now, CLUSTER_SCOPE)
    upsert_findings(connection, list(rows.values()))
    open_rows = open_findings_of(connection, [key], CLUSTER_SCOPE)
    resolve(connection, [row.fingerprint for row in open_rows if row.fingerprint not in rows], now)


def upsert_findings(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert or refresh findings by fingerprint: first seen kept, reopened if resolved."""
    if not rows:
        return
    insert = upsert(connection, findings)
    new = insert.excluded
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[findings.c.fingerprint],
            set_={
                "severity": new.severity,
                "title": new.title,
                "message": new.message,
                "evidence": new.evidence,
                "remediation": new.remediation,
                "last_seen": new.last_seen,
                "resolved_at": None,
                "last_scan_id": new.last_scan_id,
                "scope": new.scope,
            },
        ),
        rows,
    )


def finding_rows(
    key: str, verdicts: Iterable[audit_pb2.Finding], scan_id: int, now: datetime, scope: str
) -> dict[str, dict[str, Any]]:
    """Rows by fingerprint for one cluster's findings (InvalidFinding for another cluster's)."""
    rows: dict[str, dict[str, Any]] = {}
    for verdict in verdicts:
        if verdict.cluster_key and cluster_key(verdict.cluster_key) != key:
            raise InvalidFinding(
                f"finding {verdict.rule_id} on {verdict.resource!r} belongs to "
                f"{verdict.cluster_key!r}, not to {key!r}; record it with its own cluster"
            )
        digest = fingerprint(verdict.rule_id, key, verdict.resource)
        if digest in rows:
            log.warning(
                "rule %s reported %r of %s twice in one evaluation; keeping the last",
                verdict.rule_id,
                verdict.resource,
                key,
            )
        rows[digest] = {
            "fingerprint": digest,
            "rule_id": verdict.rule_id,
            "severity": int(verdict.severity),
            "cluster_key": key,
            "resource": verdict.resource,
            "title": verdict.title,
            "message": verdict.message,
            "evidence": dict(verdict.evidence),
            "remediation": verdict.remediation,
            "first_seen": now,
            "last_seen": now,
            "resolved_at": None,
            "last_scan_id": scan_id,
            "scope": scope,
        }
    return rows


def open_findings_of(connection: Connection, keys: list[str], scope: str) -> list[sa.Row[Any]]:
    """(fingerprint, cluster_key, rule_id) of the clusters' open findings of one scope."""
    result: list[sa.Row[Any]] = []
    for chunk in _chunks(sorted(keys), _IN_CHUNK):
        result.extend(
            connection.execute(
                sa.select(findings.c.fingerprint, findings.c.cluster_key, findings.c.rule_id).where(
                    findings.c.cluster_key.in_(chunk),
                    findings.c.resolved_at.is_(None),
                    findings.c.scope == scope,
                )
            )
        )
    return result


def resolve(connection: Connection, fingerprints: list[str], now: datetime) -> None:
    for chunk in _chunks(sorted(fingerprints), _IN_CHUNK):
        connection.execute(
            sa.update(findings).where(findings.c.fingerprint.in_(chunk)).values(resolved_at=now)
        )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_findings(
    connection: Connection, *, key: str | None, open_only: bool
) -> list[StoredFinding]:
    query = sa.select(findings).order_by(
        findings.c.severity.desc(),
        findings.c.cluster_key,
        findings.c.rule_id,
        findings.c.resource,
    )
    if key is not None:
        query = query.where(findings.c.cluster_key == key)
    if open_only:
        query = query.where(findings.c.resolved_at.is_(None))
    return [_stored(row) for row in connection.execute(query)]


def open_finding_counts(connection: Connection) -> dict[tuple[str, int], int]:
    rows = connection.execute(
        sa.select(findings.c.rule_id, findings.c.severity, sa.func.count())
        .where(findings.c.resolved_at.is_(None))
        .group_by(findings.c.rule_id, findings.c.severity)
    )
    return {(rule_id, severity): count for rule_id, severity, count in rows}


def _stored(row: sa.Row[Any]) -> StoredFinding:
    finding = audit_pb2.Finding(
        rule_id=row.rule_id,
        title=row.title,
        severity=row.severity,
        cluster_key=row.cluster_key,
        resource=row.resource,
        message=row.message,
        evidence=row.evidence,
        remediation=row.remediation,
    )
    return StoredFinding(
        finding=finding,
        fingerprint=row.fingerprint,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        last_scan_id=row.last_scan_id,
    )
