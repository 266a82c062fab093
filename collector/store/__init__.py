"""The collector's store: SQLAlchemy over SQLite (default) or PostgreSQL, Alembic migrations.

The only package that imports sqlalchemy and alembic. Everything else goes through
`Store` and gets protobuf messages and small frozen records back.
"""

from netaudit.collector.store.clusters import cluster_key
from netaudit.collector.store.engine import DEFAULT_BUSY_TIMEOUT_SECONDS
from netaudit.collector.store.errors import (
    InvalidFinding,
    InvalidInventory,
    InvalidReport,
    ReportContradictsInventory,
    SchemaNotCurrent,
    StaleReport,
    StoreError,
    StoreNotCreated,
    StoreUnavailable,
    UnknownCluster,
    UnknownScan,
    UnknownToken,
)
from netaudit.collector.store.findings import fingerprint
from netaudit.collector.store.records import (
    SCAN_FAILED,
    SCAN_RUNNING,
    AdminToken,
    AgentLastReport,
    AgentToken,
    CommitOutcome,
    IssuedToken,
    ScanRecord,
    StoredFinding,
    StoredReport,
)
from netaudit.collector.store.reports import DEFAULT_RETENTION
from netaudit.collector.store.schema import current_revision, head_revision, upgrade
from netaudit.collector.store.store import Store

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_SECONDS",
    "DEFAULT_RETENTION",
    "SCAN_FAILED",
    "SCAN_RUNNING",
    "AdminToken",
    "AgentLastReport",
    "AgentToken",
    "CommitOutcome",
    "InvalidFinding",
    "InvalidInventory",
    "InvalidReport",
    "IssuedToken",
    "ReportContradictsInventory",
    "ScanRecord",
    "SchemaNotCurrent",
    "StaleReport",
    "Store",
    "StoreError",
    "StoreNotCreated",
    "StoreUnavailable",
    "StoredFinding",
    "StoredReport",
    "UnknownCluster",
    "UnknownScan",
    "UnknownToken",
    "cluster_key",
    "current_revision",
    "fingerprint",
    "head_revision",
    "upgrade",
]
