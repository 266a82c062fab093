"""``--format sarif``: SARIF 2.1.0 for code-scanning dashboards.

One run; ``tool.driver.rules`` holds the metadata of every rule with a result;
each result's ``partialFingerprints`` carries the finding's fingerprint, so a
dashboard tracks it across audits. A finding has no source file: its location
is the Azure or Kubernetes resource, given as a logical location."""

from __future__ import annotations

import json
from typing import Any

from netaudit.collector.reports.model import (
    EXPIRED_WAIVER,
    WAIVED,
    Report,
    ReportFinding,
    RuleInfo,
    sorted_findings,
)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "netauditFinding/v1"
_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY_SEVERITY = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
    "info": "1.0",
}


def _rule(info: RuleInfo) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": info.id,
        "name": info.id.replace("-", ""),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.rationale or info.title},
        "help": {"text": info.remediation or info.title},
        "defaultConfiguration": {"level": _LEVELS[info.severity]},
        "properties": {"security-severity": _SECURITY_SEVERITY[info.severity]},
    }
    if info.references:
        rule["helpUri"] = info.references[0]
    return rule


def _waiver_details(finding: ReportFinding) -> dict[str, Any]:
    waiver = finding.waiver
    if waiver is None:
        return {}
    return {"owner": waiver.owner, "expires": waiver.expires.isoformat(), "entry": waiver.entry}


def _suppressions(finding: ReportFinding) -> dict[str, Any]:
    """A waiver in effect: an accepted external suppression (the result stays, marked
    suppressed)."""
    if finding.status != WAIVED or finding.waiver is None:
        return {}
    suppression = {
        "kind": "external",
        "status": "accepted",
        "justification": finding.waiver.reason,
        "properties": _waiver_details(finding),
    }
    return {"suppressions": [suppression]}


def _expired_waiver(finding: ReportFinding) -> dict[str, Any]:
    """An expired waiver suppresses nothing; the result's properties say it lapsed."""
    if finding.status != EXPIRED_WAIVER or finding.waiver is None:
        return {}
    return {"expiredWaiver": {"justification": finding.waiver.reason, **_waiver_details(finding)}}


def _result(finding: ReportFinding, index: int) -> dict[str, Any]:
    return {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _LEVELS[finding.severity],
        "message": {"text": finding.message or finding.title},
        "locations": [
            {
                "logicalLocations": [
                    {
                        "fullyQualifiedName": finding.resource or finding.cluster_id,
                        "kind": "resource",
                    }
                ]
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "severity": finding.severity,
            "cluster": finding.cluster,
            "clusterId": finding.cluster_id,
            "evidence": finding.evidence,
            **_expired_waiver(finding),
        },
        **_suppressions(finding),
    }


def render_sarif(report: Report) -> str:
    findings = sorted_findings(report.findings)
    ids = sorted({f.rule for f in findings})
    infos = [
        report.rules.get(rule_id)
        or RuleInfo(rule_id, rule_id, "info", "", "", ())  # a rule no longer in the catalogue
        for rule_id in ids
    ]
    index = {rule_id: position for position, rule_id in enumerate(ids)}
    document = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "aks-netaudit",
                        "rules": [_rule(info) for info in infos],
                    }
                },
                "results": [_result(f, index[f.rule]) for f in findings],
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
