"""The store's tables (SQLAlchemy Core). Alembic's migrations must build exactly these.

Payloads are serialized protobuf messages: the protobuf message stays the one model of
a cluster, and the columns beside it hold only what the store queries by.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Deterministic constraint names, the same on SQLite and PostgreSQL, so that later
# migrations (SQLite's batch mode included) can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite stores it as naive UTC text, which sorts."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the store takes timezone-aware datetimes, got naive {value}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


clusters = sa.Table(
    "clusters",
    metadata,
    # Lower-cased ARM resource id: ARM is inconsistent about `resourceGroups` casing.
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("subscription_id", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    # When the cluster's agent last delivered a report, and which agent did (reports are
    # pruned by retention; this row keeps the last arrival).
    sa.Column("last_report_at", UtcDateTime, nullable=True),
    sa.Column("last_agent_id", sa.Text, nullable=False),
    # The newest scan whose verdicts were recorded for this cluster: an older scan's late
    # retry must not overwrite them.
    sa.Column("last_scan_id", sa.Integer, nullable=True),
    # When a refresh listed the cluster's subscription and ARM no longer had it; NULL
    # while ARM knows it (a cluster that comes back is cleared).
    sa.Column("deleted_at", UtcDateTime, nullable=True),
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cluster_key", sa.Text, sa.ForeignKey("clusters.key"), nullable=False),
    sa.Column("report_id", sa.Text, nullable=False, unique=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("agent_epoch", sa.BigInteger, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Index(
        "ix_reports_cluster_key_order", "cluster_key", "agent_epoch", "sequence", "received_at"
    ),
)

inventories = sa.Table(
    "inventories",
    metadata,
    sa.Column("cluster_key", sa.Text, sa.ForeignKey("clusters.key"), primary_key=True),
    sa.Column("refreshed_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)

scans = sa.Table(
    "scans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("clusters", sa.Integer, nullable=False),
    sa.Column("findings", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    # When the fleet-wide step of this scan recorded its verdicts (None: not yet).
    sa.Column("reduced_at", UtcDateTime, nullable=True),
)

findings = sa.Table(
    "findings",
    metadata,
    # sha256 of (rule_id, cluster_key, resource): see findings.fingerprint()
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("severity", sa.Integer, nullable=False),
    sa.Column("cluster_key", sa.Text, sa.ForeignKey("clusters.key"), nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("remediation", sa.Text, nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("last_scan_id", sa.Integer, sa.ForeignKey("scans.id"), nullable=False),
    # "cluster": found by the per-cluster rules; "fleet": by the fleet-wide step. Each step
    # resolves only its own findings, so neither resolves what the other still sees.
    sa.Column("scope", sa.Text, nullable=False, server_default="cluster"),
    sa.Index("ix_findings_cluster_key_resolved_at", "cluster_key", "resolved_at"),
    sa.Index("ix_findings_resolved_at", "resolved_at"),
)

rule_outcomes = sa.Table(
    "rule_outcomes",
    metadata,
    # The latest outcome of each (cluster, rule): findings, passed, not_assessed or error.
    sa.Column("cluster_key", sa.Text, sa.ForeignKey("clusters.key"), primary_key=True),
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("findings", sa.Integer, nullable=False),
    # When this outcome (and reason) began; rows are rewritten only when they change.
    sa.Column("since", UtcDateTime, nullable=False),
    sa.Column("scan_id", sa.Integer, nullable=False),
    sa.Index("ix_rule_outcomes_rule_id_outcome", "rule_id", "outcome"),
)

scan_outcome_counts = sa.Table(
    "scan_outcome_counts",
    metadata,
    # Per scan: how many clusters ended in each outcome of each rule (coverage).
    sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.id"), primary_key=True),
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("outcome", sa.Text, primary_key=True),
    sa.Column("clusters", sa.Integer, nullable=False),
)

fleet_claims = sa.Table(
    "fleet_claims",
    metadata,
    # What a cluster uses that others may share (audit.proto FleetClaim), replaced whenever
    # the cluster's inventory ("inventory") or latest report ("report") is stored.
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("resource_key", sa.Text, primary_key=True),
    sa.Column("cluster_key", sa.Text, sa.ForeignKey("clusters.key"), primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("item", sa.Integer, primary_key=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Index("ix_fleet_claims_cluster_key_source", "cluster_key", "source"),
)

agent_tokens = sa.Table(
    "agent_tokens",
    metadata,
    # Per-cluster bearer tokens of agents. Only a sha256 of each token is kept: the token
    # itself is shown once, when it is created. `id` is the short handle people use.
    sa.Column("id", sa.String(16), primary_key=True),
    # Lower-cased ARM resource id. No foreign key: a token is usually made before the
    # cluster's first report or inventory brings it into `clusters`.
    sa.Column("cluster_key", sa.Text, nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Index("ix_agent_tokens_cluster_key", "cluster_key"),
)

admin_tokens = sa.Table(
    "admin_tokens",
    metadata,
    # Bearer tokens of operators calling the collector's AdminService (`netaudit scan
    # --fresh`), apart from agent tokens so that neither kind can pass for the other.
    # Only a sha256 of each token is kept; `name` says whose it is.
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

report_requests = sa.Table(
    "report_requests",
    metadata,
    # One row per (report request, cluster) that a collector replica sent to the agent on
    # the stream it holds; the commit of a report carrying the request id marks it answered
    # in the same transaction. Every replica shares these rows, so the one asking follows
    # the answers wherever the agents stream to.
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("cluster_key", sa.Text, primary_key=True),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("answered_report_id", sa.Text, nullable=True),
    sa.Column("answered_at", UtcDateTime, nullable=True),
)

usage_history = sa.Table(
    "usage_history",
    metadata,
    # IPs in use per range (a subnet id, lower-cased) at each inventory refresh: the
    # exhaustion forecast's input. One narrow row per point; old points are pruned.
    sa.Column("range_key", sa.Text, primary_key=True),
    sa.Column("at", UtcDateTime, primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
)

metric_parts = sa.Table(
    "metric_parts",
    metadata,
    # One cluster's share of the fleet's metric samples (JSON), computed where its facts were
    # loaded anyway (a scan's chunk, an inventory refresh); merged into metric_snapshots.
    sa.Column("cluster_key", sa.Text, primary_key=True),
    sa.Column("computed_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)

metric_snapshots = sa.Table(
    "metric_snapshots",
    metadata,
    # The samples /metrics serves, one row per kind ("ranges", "clusters", "findings"), each a
    # JSON blob of whole families replaced in one write: a scrape reads a few rows whatever
    # the fleet's size, and never sees half of a scan's samples.
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("computed_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)

counters = sa.Table(
    "counters",
    metadata,
    # Monotonic totals kept for the fleet rather than per process (ARM requests are sent by
    # workers, /metrics is served by the collector): every replica exports the same value.
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
