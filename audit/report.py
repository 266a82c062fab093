"""The offline audit's outcomes as the report every format renders."""

from __future__ import annotations

from datetime import datetime

from netaudit.audit.offline import FleetAudit
from netaudit.collector.reports.model import (
    ClusterOutcome,
    Report,
    ReportFinding,
    report_finding,
    rule_infos,
)


def audit_report(audit: FleetAudit, generated_at: datetime | None = None) -> Report:
    rules = rule_infos()
    findings: list[ReportFinding] = []
    passed: list[ClusterOutcome] = []
    not_assessed: list[ClusterOutcome] = []
    errors: list[ClusterOutcome] = []
    for cluster in audit.clusters:
        key, name = cluster.cluster_key, cluster.name
        for finding in cluster.findings:
            info = rules.get(finding.rule_id)
            references = info.references if info is not None else ()
            findings.append(report_finding(finding, key, name, references=references))
        passed += [ClusterOutcome(rule, name, key) for rule in cluster.passed]
        not_assessed += [ClusterOutcome(r, name, key, why) for r, why in cluster.not_assessed]
        errors += [ClusterOutcome(r, name, key, why) for r, why in cluster.errors]
    clusters = tuple(sorted(((c.cluster_key, c.name) for c in audit.clusters), key=_by_name))
    return Report(
        tuple(findings),
        tuple(passed),
        tuple(not_assessed),
        tuple(errors),
        clusters,
        rules,
        generated_at,
    )


def _by_name(cluster: tuple[str, str]) -> tuple[str, str]:
    return cluster[1], cluster[0]
