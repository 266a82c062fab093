"""Verdicts of a scan: findings, the latest outcome per (cluster, rule), counts per scan.

An open finding is resolved only when its rule was assessed completely on
that cluster (passed, or findings without a partial reason); "not assessed"
and "error" leave it open. A cluster's verdicts are written only by the
newest scan that reached it (``clusters.last_scan_id``), and the fleet-wide
step only by the newest scan that reduced, so a late retry of an older scan
never overwrites a newer one. Outcome rows are rewritten only when they
change, so a steady fleet costs reads, not writes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.engine import upsert
from netaudit.collector.store.findings import (
    CLUSTER_SCOPE,
    FLEET_SCOPE,
    _chunks,
    finding_rows,
    open_findings_of,
    resolve,
    upsert_findings,
)
from netaudit.collector.store.scans import require_scan
from netaudit.collector.store.tables import (
    clusters,
    findings,
    rule_outcomes,
    scan_outcome_counts,
    scans,
)
from netaudit.v1 import audit_pb2

log = logging.getLogger(__name__)

_IN_CHUNK = 500
FINDINGS = "findings"
PASSED = "passed"
NOT_ASSESSED = "not_assessed"
ERROR = "error"
FLEET_REASON = "found by the fleet-wide step (a resource shared with other clusters)"
"""The reason of a ``findings`` outcome that only the fleet-wide step found."""


class Verdict(Protocol):
    """One rule's outcome on one cluster (the engine's RuleOutcome)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def findings(self) -> Sequence[audit_pb2.Finding]: ...


class Evaluation(Protocol):
    """Every rule's outcome on one cluster (the engine's ClusterEvaluation)."""

    @property
    def cluster_key(self) -> str: ...
    @property
    def outcomes(self) -> Sequence[Verdict]: ...


@dataclass(frozen=True)
class OutcomeRecord:
    cluster_key: str
    rule_id: str
    outcome: str
    reason: str
    findings: int
    since: datetime
    scan_id: int


@dataclass(frozen=True)
class RecordedBatch:
    clusters: int
    findings: int
    stale: tuple[str, ...]
    """Clusters skipped because a newer scan already recorded their verdicts."""


def completely_assessed(verdict: Verdict) -> bool:
    """Passed, or findings with nothing left unjudged: only then may absent findings resolve."""
    return str(verdict.outcome) == PASSED or (
        str(verdict.outcome) == FINDINGS and not verdict.reason
    )


def record_evaluations(
    connection: Connection, scan_id: int, evaluations: Sequence[Evaluation], *, now: datetime
) -> RecordedBatch:
    """One transaction for a batch of clusters' evaluations (one scan task's chunk)."""
    require_scan(connection, scan_id)
    accepted = [e for e in evaluations if _claim_cluster(connection, e.cluster_key, scan_id)]
    stale = tuple(sorted({e.cluster_key for e in evaluations} - {e.cluster_key for e in accepted}))
    if stale:
        log.warning(
            "scan %s: a newer scan already recorded %d cluster(s); keeping its verdicts",
            scan_id,
            len(stale),
            extra={"scan_id": scan_id, "clusters": len(stale)},
        )
    rows: dict[str, dict[str, Any]] = {}
    for evaluation in accepted:
        for verdict in evaluation.outcomes:
            rows.update(
                finding_rows(evaluation.cluster_key, verdict.findings, scan_id, now, CLUSTER_SCOPE)
            )
    upsert_findings(connection, list(rows.values()))
    _resolve_assessed(connection, accepted, set(rows), now)
    _write_outcomes(connection, scan_id, accepted, now)
    _add_counts(
        connection,
        scan_id,
        Counter((v.rule_id, str(v.outcome)) for e in accepted for v in e.outcomes),
    )
    return RecordedBatch(clusters=len(accepted), findings=len(rows), stale=stale)


def _claim_cluster(connection: Connection, key: str, scan_id: int) -> bool:
    """Mark the cluster as recorded by this scan unless a newer one got there first."""
    updated = connection.execute(
        sa.update(clusters)
        .where(
            clusters.c.key == key,
            sa.or_(clusters.c.last_scan_id.is_(None), clusters.c.last_scan_id <= scan_id),
        )
        .values(last_scan_id=scan_id)
    )
    return bool(updated.rowcount)


def _resolve_assessed(
    connection: Connection, accepted: Sequence[Evaluation], present: set[str], now: datetime
) -> None:
    assessed = {
        (e.cluster_key, v.rule_id) for e in accepted for v in e.outcomes if completely_assessed(v)
    }
    keys = [e.cluster_key for e in accepted]
    gone = [
        row.fingerprint
        for row in open_findings_of(connection, keys, CLUSTER_SCOPE)
        if row.fingerprint not in present and (row.cluster_key, row.rule_id) in assessed
    ]
    resolve(connection, gone, now)


def _write_outcomes(
    connection: Connection, scan_id: int, accepted: Sequence[Evaluation], now: datetime
) -> None:
    keys = [e.cluster_key for e in accepted]
    previous = {(r.cluster_key, r.rule_id): r for r in _outcome_rows(connection, keys)}
    changed: list[dict[str, Any]] = []
    for evaluation in accepted:
        for verdict in evaluation.outcomes:
            row = (
                evaluation.cluster_key,
                verdict.rule_id,
                str(verdict.outcome),
                verdict.reason,
                len(verdict.findings),
            )
            changed.extend(_changed_row(previous.get(row[:2]), row, scan_id, now))
    _upsert_outcomes(connection, changed)


def _changed_row(
    old: OutcomeRecord | None,
    row: tuple[str, str, str, str, int],
    scan_id: int,
    now: datetime,
) -> Iterable[dict[str, Any]]:
    key, rule_id, outcome, reason, count = row
    if old is not None and (old.outcome, old.reason, old.findings) == (outcome, reason, count):
        return ()
    if (
        old is not None
        and outcome == PASSED
        and (old.outcome, old.reason) == (FINDINGS, FLEET_REASON)
    ):
        return ()  # the fleet-wide step of this scan confirms or clears it
    same_state = old is not None and (old.outcome, old.reason) == (outcome, reason)
    return (
        {
            "cluster_key": key,
            "rule_id": rule_id,
            "outcome": outcome,
            "reason": reason,
            "findings": count,
            "since": old.since if same_state and old is not None else now,
            "scan_id": scan_id,
        },
    )


def _upsert_outcomes(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = upsert(connection, rule_outcomes)
    new = insert.excluded
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[rule_outcomes.c.cluster_key, rule_outcomes.c.rule_id],
            set_={
                "outcome": new.outcome,
                "reason": new.reason,
                "findings": new.findings,
                "since": new.since,
                "scan_id": new.scan_id,
            },
        ),
        rows,
    )


def _add_counts(
    connection: Connection, scan_id: int, counts: Mapping[tuple[str, str], int]
) -> None:
    rows = [
        {"scan_id": scan_id, "rule_id": rule_id, "outcome": outcome, "clusters": count}
        for (rule_id, outcome), count in sorted(counts.items())
        if count
    ]
    if not rows:
        return
    insert = upsert(connection, scan_outcome_counts)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[
                scan_outcome_counts.c.scan_id,
                scan_outcome_counts.c.rule_id,
                scan_outcome_counts.c.outcome,
            ],
            set_={"clusters": scan_outcome_counts.c.clusters + insert.excluded.clusters},
        ),
        rows,
    )


def _outcome_rows(
    connection: Connection, keys: list[str], rule_ids: set[str] | None = None
) -> list[OutcomeRecord]:
    """Outcome rows of these clusters (of these rules only, when given)."""
    result: list[OutcomeRecord] = []
    for chunk in _chunks(sorted(keys), _IN_CHUNK):
        query = sa.select(rule_outcomes).where(rule_outcomes.c.cluster_key.in_(chunk))
        if rule_ids is not None:
            query = query.where(rule_outcomes.c.rule_id.in_(sorted(rule_ids)))
        result.extend(_record(row) for row in connection.execute(query))
    return result


def _record(row: sa.Row[Any]) -> OutcomeRecord:
    return OutcomeRecord(
        cluster_key=row.cluster_key,
        rule_id=row.rule_id,
        outcome=row.outcome,
        reason=row.reason,
        findings=row.findings,
        since=row.since,
        scan_id=row.scan_id,
    )


# -- the fleet-wide step ----------------------------------------------------------------


def record_fleet_findings(
    connection: Connection,
    scan_id: int,
    fleet_rules: Iterable[str],
    found: Sequence[audit_pb2.Finding],
    *,
    now: datetime,
) -> bool:
    """The fleet-wide rules' findings of one scan; False when a newer scan already reduced.

    Open fleet findings of these rules that were not found again are resolved,
    except on clusters where the rule's latest outcome is not assessed or error.
    A cluster with a fleet finding has its (rule) outcome become ``findings``.
    """
    require_scan(connection, scan_id)
    newer = connection.scalar(
        sa.select(sa.func.count())
        .select_from(scans)
        .where(scans.c.id > scan_id, scans.c.reduced_at.is_not(None))
    )
    if newer:
        log.warning("scan %s: a newer scan already ran the fleet-wide rules", scan_id)
        return False
    connection.execute(sa.update(scans).where(scans.c.id == scan_id).values(reduced_at=now))
    rules = set(fleet_rules)
    by_cluster: dict[str, list[audit_pb2.Finding]] = {}
    for finding in found:
        by_cluster.setdefault(finding.cluster_key.lower(), []).append(finding)
    rows: dict[str, dict[str, Any]] = {}
    for key, cluster_findings in by_cluster.items():
        rows.update(finding_rows(key, cluster_findings, scan_id, now, FLEET_SCOPE))
    upsert_findings(connection, list(rows.values()))
    _resolve_fleet(connection, rules, set(rows), now)
    _mark_fleet_outcomes(connection, scan_id, rules, by_cluster, now)
    return True


def _resolve_fleet(
    connection: Connection, rules: set[str], present: set[str], now: datetime
) -> None:
    open_rows = connection.execute(
        sa.select(findings.c.fingerprint, findings.c.cluster_key, findings.c.rule_id).where(
            findings.c.resolved_at.is_(None), findings.c.scope == FLEET_SCOPE
        )
    ).all()
    candidates = [r for r in open_rows if r.rule_id in rules and r.fingerprint not in present]
    unassessed = {
        (r.cluster_key, r.rule_id)
        for r in _outcome_rows(connection, sorted({r.cluster_key for r in candidates}), rules)
        if r.outcome in (NOT_ASSESSED, ERROR)
    }
    resolve(
        connection,
        [r.fingerprint for r in candidates if (r.cluster_key, r.rule_id) not in unassessed],
        now,
    )


def _mark_fleet_outcomes(
    connection: Connection,
    scan_id: int,
    fleet_rules: set[str],
    by_cluster: Mapping[str, list[audit_pb2.Finding]],
    now: datetime,
) -> None:
    """(cluster, rule) with fleet findings becomes ``findings``; one the fleet step alone had
    marked and that has none now goes back to ``passed``. The scan's counts move with it."""
    per_rule: Counter[tuple[str, str]] = Counter(
        (key, f.rule_id) for key, fs in by_cluster.items() for f in fs
    )
    previous = {
        (r.cluster_key, r.rule_id): r
        for r in _outcome_rows(connection, list(by_cluster), fleet_rules)
    }
    rows: list[dict[str, Any]] = []
    moved: Counter[tuple[str, str]] = Counter()
    for (key, rule_id), count in sorted(per_rule.items()):
        old = previous.get((key, rule_id))
        if old is not None and old.outcome == FINDINGS and old.reason != FLEET_REASON:
            continue  # the cluster's own findings already count
        rows.append(_fleet_row(key, rule_id, FINDINGS, FLEET_REASON, count, scan_id, old, now))
        moved[(rule_id, PASSED if old is None or old.reason == FLEET_REASON else old.outcome)] -= 1
        moved[(rule_id, FINDINGS)] += 1
    for stale in _fleet_marked(connection, fleet_rules):
        if (stale.cluster_key, stale.rule_id) not in per_rule:
            rows.append(
                _fleet_row(stale.cluster_key, stale.rule_id, PASSED, "", 0, scan_id, None, now)
            )
    _upsert_outcomes(connection, rows)
    _add_counts(connection, scan_id, moved)


def _fleet_row(
    key: str,
    rule_id: str,
    outcome: str,
    reason: str,
    count: int,
    scan_id: int,
    old: OutcomeRecord | None,
    now: datetime,
) -> dict[str, Any]:
    same = old is not None and (old.outcome, old.reason) == (outcome, reason)
    return {
        "cluster_key": key,
        "rule_id": rule_id,
        "outcome": outcome,
        "reason": reason,
        "findings": count,
        "since": old.since if same and old is not None else now,
        "scan_id": scan_id,
    }


def _fleet_marked(connection: Connection, fleet_rules: set[str]) -> list[OutcomeRecord]:
    rows = connection.execute(
        sa.select(rule_outcomes).where(
            rule_outcomes.c.rule_id.in_(sorted(fleet_rules)),
            rule_outcomes.c.outcome == FINDINGS,
            rule_outcomes.c.reason == FLEET_REASON,
        )
    )
    return [_record(row) for row in rows]


# -- reads ------------------------------------------------------------------------------


def outcomes(
    connection: Connection, *, key: str | None = None, rule_id: str | None = None
) -> list[OutcomeRecord]:
    query = sa.select(rule_outcomes).order_by(rule_outcomes.c.cluster_key, rule_outcomes.c.rule_id)
    if key is not None:
        query = query.where(rule_outcomes.c.cluster_key == key)
    if rule_id is not None:
        query = query.where(rule_outcomes.c.rule_id == rule_id)
    return [_record(row) for row in connection.execute(query)]


def scan_outcome_totals(connection: Connection, scan_id: int) -> dict[tuple[str, str], int]:
    """(rule_id, outcome) -> clusters, for one scan."""
    rows = connection.execute(
        sa.select(
            scan_outcome_counts.c.rule_id,
            scan_outcome_counts.c.outcome,
            scan_outcome_counts.c.clusters,
        ).where(scan_outcome_counts.c.scan_id == scan_id)
    )
    return {(r.rule_id, r.outcome): r.clusters for r in rows if r.clusters}
