"""What the store hands back: store records around the protobuf messages, not a second model."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from netaudit.v1 import audit_pb2, report_pb2

SCAN_RUNNING = "running"
SCAN_FAILED = "failed"


class CommitOutcome(enum.Enum):
    COMMITTED = "committed"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class StoredReport:
    cluster_key: str
    report: report_pb2.Report
    received_at: datetime
    agent_id: str


@dataclass(frozen=True)
class StoredFinding:
    finding: audit_pb2.Finding
    fingerprint: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    last_scan_id: int


@dataclass(frozen=True)
class ScanRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    clusters: int
    findings: int
    error: str


@dataclass(frozen=True)
class AgentLastReport:
    cluster_key: str
    cluster_name: str
    agent_id: str
    received_at: datetime


@dataclass(frozen=True)
class AgentToken:
    """A per-cluster bearer token as the store keeps it: never the token itself."""

    id: str
    cluster_key: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AdminToken:
    """An operator's bearer token for the AdminService: never the token itself."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedAdminToken:
    """An admin token just created: the only time its secret value is known."""

    record: AdminToken
    token: str = field(repr=False)


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the only time its secret value is known."""

    record: AgentToken
    token: str = field(repr=False)
