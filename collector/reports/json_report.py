"""``--format json``: the documented schema (report.schema.json next to this module)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from netaudit.collector.reports.model import Report, ReportFinding, sorted_findings

SCHEMA_FILE = Path(__file__).with_name("report.schema.json")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def finding_document(finding: ReportFinding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "cluster": finding.cluster,
        "cluster_id": finding.cluster_id,
        "resource": finding.resource,
        "title": finding.title,
        "message": finding.message,
        "evidence": finding.evidence,
        "remediation": finding.remediation,
        "references": list(finding.references),
        "fingerprint": finding.fingerprint,
        "status": finding.status,
        "first_seen": _time(finding.first_seen),
        "last_seen": _time(finding.last_seen),
        "waiver": finding.waiver.reason if finding.waiver is not None else None,
    }


def report_document(report: Report) -> dict[str, Any]:
    return {
        "findings": [finding_document(f) for f in sorted_findings(report.findings)],
        "not_assessed": [
            {"rule": o.rule, "cluster": o.cluster, "reason": o.reason} for o in report.not_assessed
        ],
        "passed": [{"rule": o.rule, "cluster": o.cluster} for o in report.passed],
        "summary": report.summary(),
    }


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2, ensure_ascii=False)
