"""The store's one entry point: short transactions over the tables, protobuf in and out."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy.engine import Connection, Engine

from netaudit.collector.store import admin_tokens as admin_token_rows
from netaudit.collector.store import claims as claim_rows
from netaudit.collector.store import clusters as cluster_rows
from netaudit.collector.store import findings as finding_rows
from netaudit.collector.store import inventories as inventory_rows
from netaudit.collector.store import metric_snapshots as metric_rows
from netaudit.collector.store import outcomes as outcome_rows
from netaudit.collector.store import report_requests as request_rows
from netaudit.collector.store import reports as report_rows
from netaudit.collector.store import scans as scan_rows
from netaudit.collector.store import tokens as token_rows
from netaudit.collector.store import usage as usage_rows
from netaudit.collector.store.clusters import cluster_key as normalized_key
from netaudit.collector.store.engine import (
    DEFAULT_BUSY_TIMEOUT_SECONDS,
    create_engine,
    display_url,
    parse_url,
    sqlite_file,
    translated_errors,
    writer,
)
from netaudit.collector.store.errors import StoreError
from netaudit.collector.store.records import (
    AdminToken,
    AgentLastReport,
    AgentToken,
    CommitOutcome,
    IssuedAdminToken,
    IssuedToken,
    ScanRecord,
    StoredFinding,
    StoredReport,
)
from netaudit.collector.store.schema import require_current
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2


def utc_now() -> datetime:
    return datetime.now(UTC)


def aware(name: str, value: datetime) -> datetime:
    """`value` if it is timezone-aware; naive times are ambiguous across replicas."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value}")
    return value


class Store:
    """Reports, inventories, scans and findings of the fleet.

    Every method is one short transaction, so the gRPC server and any number of worker
    processes can share one database. A Store inherited through fork() opens fresh
    connections in the child on first use.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
        report_retention: int = report_rows.DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
        usage_retention: timedelta = usage_rows.DEFAULT_RETENTION,
    ) -> None:
        """`busy_timeout`: seconds a SQLite writer waits for the lock.
        `report_retention`: reports kept per cluster (the ones committed last).
        `usage_retention`: how long usage-history points are kept."""
        if report_retention < 1:
            raise StoreError(f"report_retention must be at least 1, got {report_retention}")
        self._url = parse_url(url)
        self._engine = create_engine(url, busy_timeout=busy_timeout)
        self._writer = writer(self._engine)
        self._retention = report_retention
        self._usage_retention = usage_retention
        self._clock = clock
        self._pid = os.getpid()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
        report_retention: int = report_rows.DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
    ) -> Store:
        """Like Store(url), after checking that `upgrade` brought the database to this
        release's schema (SchemaNotCurrent, naming `netaudit db upgrade`, if not)."""
        require_current(url)
        return cls(url, busy_timeout=busy_timeout, report_retention=report_retention, clock=clock)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({display_url(self._url)!r})"

    # -- reports -----------------------------------------------------------------

    def commit_report(
        self,
        report: report_pb2.Report,
        *,
        agent_id: str,
        received_at: datetime,
        payload: bytes | bytearray | None = None,
    ) -> CommitOutcome:
        """Commit once per report id (DUPLICATE after that); it is then the cluster's latest.

        ``payload``: the bytes ``report`` was parsed from, stored as they are (ingest
        passes the agent's bytes instead of a re-serialized copy); None serializes it.

        InvalidReport if unusable: StaleReport for a sequence not after one committed from
        the same (agent_id, agent epoch), ReportContradictsInventory for a cluster name or
        region other than the inventory's."""
        report_rows.validate(report)
        with self._write() as connection:
            return report_rows.commit_report(
                connection,
                report,
                agent_id=agent_id,
                received_at=aware("received_at", received_at),
                retention=self._retention,
                payload=payload,
            )

    def latest_report(self, cluster_key: str) -> StoredReport | None:
        with self._read() as connection:
            return report_rows.latest_report(connection, normalized_key(cluster_key))

    def all_latest_reports(self) -> list[StoredReport]:
        """The latest report of every cluster that has one, by cluster key."""
        with self._read() as connection:
            return report_rows.all_latest_reports(connection)

    def earlier_reports(
        self, cluster_keys: Sequence[str], min_age: timedelta
    ) -> dict[str, StoredReport]:
        """For each cluster, the newest report committed at least ``min_age`` before its latest
        one, when retention still keeps one (a history of two observations)."""
        keys = sorted({normalized_key(k) for k in cluster_keys})
        with self._read() as connection:
            return report_rows.earlier_reports(connection, keys, min_age)

    def report_count(self, cluster_key: str) -> int:
        """Reports kept for the cluster (at most the retention)."""
        with self._read() as connection:
            return report_rows.report_count(connection, normalized_key(cluster_key))

    # -- inventories -------------------------------------------------------------

    def save_inventory(self, inventory: inventory_pb2.ClusterInventory) -> None:
        """Upsert by cluster key; an older `refreshed_at` never replaces a newer one. The
        subnets' usages become points of the usage history (pruned past its retention)."""
        now = self._clock()
        with self._write() as connection:
            inventory_rows.save_inventory(connection, inventory, now=now)
            if inventory.HasField("deleted_at"):
                return  # its usages are the last ones read, not a new reading
            # a late, older refresh does not replace the inventory, but its reading is still
            # a true point of the history, at its own time
            usage_rows.record_usage(
                connection,
                inventory,
                at=inventory_rows.refreshed_at(inventory, now),
                retention=self._usage_retention,
            )

    def usage_history(
        self, range_keys: Iterable[str], *, since: datetime
    ) -> list[audit_pb2.RangeUsage]:
        """Recorded use of these subnets since ``since``, oldest point first."""
        with self._read() as connection:
            return usage_rows.usage_series(connection, range_keys, since=aware("since", since))

    def inventory(self, cluster_key: str) -> inventory_pb2.ClusterInventory | None:
        with self._read() as connection:
            return inventory_rows.inventory(connection, normalized_key(cluster_key))

    def subscription_inventories(
        self, subscription_id: str
    ) -> list[inventory_pb2.ClusterInventory]:
        """The stored inventories of a subscription: what an incremental refresh compares
        ARM's listing with."""
        with self._read() as connection:
            return inventory_rows.subscription_inventories(connection, subscription_id)

    def all_inventories(self) -> list[inventory_pb2.ClusterInventory]:
        with self._read() as connection:
            return inventory_rows.all_inventories(connection)

    # -- clusters ----------------------------------------------------------------

    def cluster_keys(self) -> list[str]:
        """Every cluster known from a report or an inventory, sorted."""
        with self._read() as connection:
            return cluster_rows.cluster_keys(connection)

    def cluster_name(self, cluster_key: str) -> str | None:
        """The cluster's name ("" if nothing said it yet); None for an unknown cluster."""
        with self._read() as connection:
            return cluster_rows.cluster_name(connection, normalized_key(cluster_key))

    def agents_last_report(self) -> list[AgentLastReport]:
        """Per cluster with a committed report: the agent and when it last reported."""
        with self._read() as connection:
            return cluster_rows.agents_last_report(connection)

    # -- scans -------------------------------------------------------------------

    def start_scan(self, *, now: datetime | None = None) -> int:
        with self._write() as connection:
            return scan_rows.start_scan(connection, now=aware("now", now or self._clock()))

    def discard_scan(self, scan_id: int) -> bool:
        """Forget a scan that was never enqueued (still running, nothing recorded); False
        when it had already started recording."""
        with self._write() as connection:
            return scan_rows.discard_scan(connection, scan_id)

    def finish_scan(
        self,
        scan_id: int,
        *,
        status: str,
        clusters: int,
        findings: int,
        error: str = "",
        now: datetime | None = None,
    ) -> bool:
        """Record a running scan's verdict; False (nothing changed) when it had ended."""
        with self._write() as connection:
            return scan_rows.finish_scan(
                connection,
                scan_id,
                status=status,
                clusters=clusters,
                findings=findings,
                error=error,
                now=aware("now", now or self._clock()),
            )

    def last_scan(self, *, finished: bool = False) -> ScanRecord | None:
        """The scan started last; with finished=True, the one that finished last."""
        with self._read() as connection:
            return scan_rows.last_scan(connection, finished=finished)

    def scan(self, scan_id: int) -> ScanRecord | None:
        with self._read() as connection:
            return scan_rows.scan(connection, scan_id)

    def running_scans(self) -> list[ScanRecord]:
        """Scans not finished yet, oldest first."""
        with self._read() as connection:
            return scan_rows.running_scans(connection)

    def fail_unfinished_scans(
        self, *, started_before: datetime, error: str, now: datetime | None = None
    ) -> list[int]:
        """Mark failed every scan started before `started_before` that is still running
        (one statement, so a scan finishing meanwhile keeps its own verdict); their ids."""
        with self._write() as connection:
            return scan_rows.fail_unfinished_scans(
                connection,
                started_before=aware("started_before", started_before),
                error=error,
                now=aware("now", now or self._clock()),
            )

    # -- findings ----------------------------------------------------------------

    def record_findings(
        self,
        scan_id: int,
        cluster_key: str,
        findings: list[audit_pb2.Finding],
        *,
        now: datetime,
    ) -> None:
        """This evaluation's verdicts on one cluster: upsert them, resolve the absent ones."""
        with self._write() as connection:
            finding_rows.record_findings(
                connection,
                scan_id,
                normalized_key(cluster_key),
                findings,
                now=aware("now", now),
            )

    def record_evaluations(
        self, scan_id: int, evaluations: Sequence[outcome_rows.Evaluation], *, now: datetime
    ) -> outcome_rows.RecordedBatch:
        """A batch of clusters' rule outcomes in one transaction: findings upserted, open
        findings resolved only where their rule was completely assessed, the latest
        outcome per (cluster, rule) kept, this scan's counts added. Clusters that a newer
        scan already recorded are skipped (``stale``)."""
        with self._write() as connection:
            return outcome_rows.record_evaluations(
                connection, scan_id, evaluations, now=aware("now", now)
            )

    def record_fleet_findings(
        self,
        scan_id: int,
        fleet_rules: Iterable[str],
        findings: Sequence[audit_pb2.Finding],
        *,
        now: datetime,
    ) -> bool:
        """The fleet-wide step's findings; False when a newer scan already recorded its own."""
        with self._write() as connection:
            return outcome_rows.record_fleet_findings(
                connection, scan_id, fleet_rules, findings, now=aware("now", now)
            )

    def shared_claims(
        self, kind: str, *, per_claim: bool = False
    ) -> Iterator[tuple[str, list[audit_pb2.FleetClaim]]]:
        """(resource, claims) of every resource of ``kind`` that several clusters claim."""
        with self._read() as connection:
            yield from claim_rows.shared_groups(connection, kind, per_claim=per_claim)

    def outcomes(
        self, cluster_key: str | None = None, rule_id: str | None = None
    ) -> list[outcome_rows.OutcomeRecord]:
        """The latest outcome of each (cluster, rule), optionally of one cluster or rule."""
        key = None if cluster_key is None else normalized_key(cluster_key)
        with self._read() as connection:
            return outcome_rows.outcomes(connection, key=key, rule_id=rule_id)

    def scan_outcome_totals(self, scan_id: int) -> dict[tuple[str, str], int]:
        """(rule_id, outcome) -> number of clusters, for one scan."""
        with self._read() as connection:
            return outcome_rows.scan_outcome_totals(connection, scan_id)

    def latest_reports(self, cluster_keys: Sequence[str]) -> dict[str, StoredReport]:
        """The latest report of each of these clusters that has one."""
        keys = [normalized_key(k) for k in cluster_keys]
        with self._read() as connection:
            return report_rows.latest_reports(connection, keys)

    def inventories(self, cluster_keys: Sequence[str]) -> dict[str, inventory_pb2.ClusterInventory]:
        """The inventory of each of these clusters that has one."""
        keys = [normalized_key(k) for k in cluster_keys]
        with self._read() as connection:
            return inventory_rows.inventories(connection, keys)

    def open_findings(self, cluster_key: str | None = None) -> list[StoredFinding]:
        """Open findings, most severe first (of one cluster, or of the fleet)."""
        key = None if cluster_key is None else normalized_key(cluster_key)
        with self._read() as connection:
            return finding_rows.stored_findings(connection, key=key, open_only=True)

    def all_findings(self, cluster_key: str | None = None) -> list[StoredFinding]:
        """Open and resolved findings, most severe first."""
        key = None if cluster_key is None else normalized_key(cluster_key)
        with self._read() as connection:
            return finding_rows.stored_findings(connection, key=key, open_only=False)

    def open_finding_counts(self) -> dict[tuple[str, int], int]:
        """(rule_id, severity) -> number of open findings."""
        with self._read() as connection:
            return finding_rows.open_finding_counts(connection)

    def open_findings_by_cluster(self) -> dict[tuple[str, int], int]:
        """(cluster_key, severity) -> number of open findings."""
        with self._read() as connection:
            return metric_rows.open_findings_by_cluster(connection)

    # -- metric snapshots --------------------------------------------------------

    def save_metric_parts(self, parts: Mapping[str, bytes]) -> None:
        """Each cluster's share of the metric samples (cluster key -> encoded part)."""
        with self._write() as connection:
            metric_rows.save_parts(connection, parts, now=self._clock())

    def delete_metric_parts(self, cluster_keys: Sequence[str]) -> None:
        """Drop these clusters' shares of the samples (ARM deleted them)."""
        with self._write() as connection:
            metric_rows.delete_parts(connection, [normalized_key(k) for k in cluster_keys])

    def metric_parts(self, *, after: str = "", limit: int | None = None) -> list[tuple[str, bytes]]:
        """(cluster key, encoded part) by key: every cluster's, or a page of ``limit`` after
        the key ``after``."""
        with self._read() as connection:
            return list(metric_rows.parts(connection, after=after, limit=limit))

    def save_metric_snapshots(self, snapshots: Mapping[str, bytes]) -> None:
        """Replace the snapshots of these kinds together (kind -> encoded samples)."""
        with self._write() as connection:
            metric_rows.save_snapshots(connection, snapshots, now=self._clock())

    def metric_snapshots(self) -> dict[str, bytes]:
        """kind -> encoded samples, as the last scan or refresh stored them."""
        with self._read() as connection:
            return metric_rows.snapshots(connection)

    def add_to_counters(self, increments: Mapping[str, int]) -> None:
        """Add to fleet-wide monotonic counters (name -> increment), atomically."""
        with self._write() as connection:
            metric_rows.add_to_counters(connection, increments)

    def counters(self) -> dict[str, int]:
        with self._read() as connection:
            return metric_rows.counter_values(connection)

    def scans_by_status(self) -> dict[str, int]:
        with self._read() as connection:
            return metric_rows.scans_by_status(connection)

    def size_bytes(self) -> int | None:
        """The database's size on disk (SQLite: the file and its WAL); None if unknown."""
        database = sqlite_file(self._url)
        if database is not None:
            files = [database, database.with_name(database.name + "-wal")]
            return sum(f.stat().st_size for f in files if f.exists())
        with self._read() as connection:
            return metric_rows.database_size_bytes(connection)

    # -- agent tokens ------------------------------------------------------------

    def create_agent_token(self, cluster_id: str) -> IssuedToken:
        """A new bearer token for the cluster's agent; its value is returned only here."""
        key = normalized_key(cluster_id)
        if not key:
            raise StoreError("an agent token needs the cluster's ARM resource id")
        with self._write() as connection:
            return token_rows.create_token(connection, key, now=self._clock())

    def agent_tokens(self, cluster_id: str | None = None) -> list[AgentToken]:
        """Every agent token (of one cluster), revoked ones included; never their values."""
        key = None if cluster_id is None else normalized_key(cluster_id)
        with self._read() as connection:
            return token_rows.list_tokens(connection, key)

    def revoke_agent_token(self, token_id: str) -> AgentToken:
        """Revoke by id (UnknownToken if there is none); new streams with it are refused."""
        with self._write() as connection:
            return token_rows.revoke_token(connection, token_id.strip(), now=self._clock())

    # -- admin tokens ------------------------------------------------------------

    def create_admin_token(self, name: str) -> IssuedAdminToken:
        """A new bearer token for the AdminService; its value is returned only here."""
        name = name.strip()
        if not name:
            raise StoreError("an admin token needs a name (whose it is)")
        with self._write() as connection:
            return admin_token_rows.create_token(connection, name, now=self._clock())

    def admin_tokens(self) -> list[AdminToken]:
        """Every admin token, revoked ones included; never their values."""
        with self._read() as connection:
            return admin_token_rows.list_tokens(connection)

    def revoke_admin_token(self, token_id: str) -> AdminToken | None:
        """Revoke the admin token with this id; None when there is none."""
        with self._write() as connection:
            return admin_token_rows.revoke_token(connection, token_id.strip(), now=self._clock())

    def active_admin_token(self, token: str) -> AdminToken | None:
        """The unrevoked admin token with this value."""
        with self._read() as connection:
            return admin_token_rows.active_token(connection, token)

    # -- report requests ---------------------------------------------------------

    def record_report_requests(self, request_id: str, cluster_keys: Iterable[str]) -> None:
        """Record that this replica sends `request_id` to these clusters' agents."""
        keys = [normalized_key(key) for key in cluster_keys]
        with self._write() as connection:
            request_rows.record_requested(connection, request_id, keys, now=self._clock())

    def report_request_progress(self, request_id: str) -> dict[str, str | None]:
        """Each requested cluster's answering report id, None while unanswered."""
        with self._read() as connection:
            return request_rows.progress(connection, request_id)

    def active_agent_token(self, token: str) -> AgentToken | None:
        """The unrevoked token with this value (its cluster says whom it speaks for)."""
        with self._read() as connection:
            return token_rows.active_token(connection, token)

    # -- transactions ------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translated_errors(self._url), self._current_engine().begin() as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self._current_engine()
        with translated_errors(self._url), self._writer.begin() as connection:
            yield connection

    def _current_engine(self) -> Engine:
        if os.getpid() != self._pid:
            # a forked child must not share the parent's pooled connections
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        return self._engine
