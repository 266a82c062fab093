"""What every report format renders: findings, passes and not-assessed rules, per cluster.

Built once from the offline audit's outcomes or from the store; the renderers
(one module per format) are pure functions of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from netaudit.collector.reports.fingerprints import fingerprint
from netaudit.collector.rules import RULES, Rule
from netaudit.v1 import audit_pb2

if TYPE_CHECKING:
    from netaudit.collector.reports.waivers import Waiver

SEVERITIES = ("critical", "high", "medium", "low", "info")
"""The severities of the reports, most severe first."""
_BY_VALUE: dict[int, str] = {
    audit_pb2.SEVERITY_CRITICAL: "critical",
    audit_pb2.SEVERITY_HIGH: "high",
    audit_pb2.SEVERITY_MEDIUM: "medium",
    audit_pb2.SEVERITY_LOW: "low",
    audit_pb2.SEVERITY_INFO: "info",
}


def severity_label(severity: int) -> str:
    """``critical|high|medium|low|info`` (an unset severity counts as info)."""
    return _BY_VALUE.get(severity, "info")


def severity_rank(label: str) -> int:
    """0 for critical … 4 for info."""
    return SEVERITIES.index(label)


OPEN = "open"
WAIVED = "waived"
EXPIRED_WAIVER = "expired-waiver"
"""A finding's status: open, waived (a waiver in effect covers it), or covered only by
waivers past their expiry date (reported like an open one, saying so)."""


@dataclass(frozen=True)
class RuleInfo:
    """A rule's metadata, for the reports that describe rules (SARIF, HTML)."""

    id: str
    title: str
    severity: str
    rationale: str
    remediation: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class ReportFinding:
    rule: str
    severity: str
    cluster: str
    cluster_id: str
    resource: str
    title: str
    message: str
    evidence: dict[str, str]
    remediation: str
    references: tuple[str, ...]
    fingerprint: str
    status: str = OPEN
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    waiver: Waiver | None = None
    """The waiver covering the finding (in effect when ``status`` is waived, expired else)."""


@dataclass(frozen=True)
class ClusterOutcome:
    """A rule that passed or was not assessed on one cluster (reason empty when passed)."""

    rule: str
    cluster: str
    cluster_id: str
    reason: str = ""


@dataclass(frozen=True)
class Report:
    findings: tuple[ReportFinding, ...]
    passed: tuple[ClusterOutcome, ...]
    not_assessed: tuple[ClusterOutcome, ...]
    errors: tuple[ClusterOutcome, ...] = ()
    clusters: tuple[tuple[str, str], ...] = ()
    """(cluster id, name) of every cluster in the report, in name order."""
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)
    generated_at: datetime | None = None
    unmatched_waivers: tuple[Waiver, ...] = ()
    """Waivers of the waivers file that covered no finding of this report."""

    def summary(self) -> dict[str, object]:
        by_severity = Counter(f.severity for f in self.findings)
        by_status = Counter(f.status for f in self.findings)
        return {
            "clusters": len(self.clusters),
            "findings": len(self.findings),
            "passed": len(self.passed),
            "not_assessed": len(self.not_assessed),
            "errors": len(self.errors),
            "by_severity": {label: by_severity.get(label, 0) for label in SEVERITIES},
            "waivers": {
                "waived": by_status.get(WAIVED, 0),
                "expired": by_status.get(EXPIRED_WAIVER, 0),
                "unmatched": [waiver.document() for waiver in self.unmatched_waivers],
            },
        }

    def at_or_above(self, severity: str) -> list[ReportFinding]:
        """Findings at ``severity`` or more severe that no waiver in effect covers (what
        --fail-on counts)."""
        limit = severity_rank(severity)
        return [
            f for f in self.findings if f.status != WAIVED and severity_rank(f.severity) <= limit
        ]


def rule_infos(rules: Iterable[Rule] = RULES) -> dict[str, RuleInfo]:
    return {
        rule.id: RuleInfo(
            rule.id,
            rule.title,
            severity_label(rule.severity),
            rule.rationale,
            rule.remediation,
            tuple(rule.references),
        )
        for rule in rules
    }


def report_finding(
    finding: audit_pb2.Finding,
    cluster_id: str,
    cluster: str,
    *,
    digest: str | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    references: tuple[str, ...] = (),
) -> ReportFinding:
    return ReportFinding(
        rule=finding.rule_id,
        severity=severity_label(finding.severity),
        cluster=cluster,
        cluster_id=cluster_id,
        resource=finding.resource,
        title=finding.title,
        message=finding.message,
        evidence={key: finding.evidence[key] for key in sorted(finding.evidence)},
        remediation=finding.remediation,
        references=references,
        fingerprint=digest or fingerprint(finding.rule_id, cluster_id, finding.resource),
        first_seen=first_seen,
        last_seen=last_seen,
    )


def sorted_findings(findings: Iterable[ReportFinding]) -> list[ReportFinding]:
    """By cluster, then severity, rule and resource: the order every format uses."""
    return sorted(
        findings,
        key=lambda f: (f.cluster, f.cluster_id, severity_rank(f.severity), f.rule, f.resource),
    )
