"""``--format sarif``: SARIF 2.1.0 for code-scanning dashboards.

One run; ``tool.driver.rules`` holds the metadata of every rule with a result;
each result's ``partialFingerprints`` carries the finding's fingerprint, so a
dashboard tracks it across audits. A finding has no source file: its location
is the Azure or Kubernetes resource, given as a logical location. A waived
finding is a result with an accepted external suppression, so dashboards hide it
the way they hide an in-source suppression; an expired waiver suppresses nothing.

tests/schemas holds the official schema the output is validated against."""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from netaudit.collector.reports.model import (
    EXPIRED_WAIVER,
    WAIVED,
    Report,
    ReportFinding,
    RuleInfo,
    sorted_findings,
)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT_KEY = "netauditFinding/v1"
TOOL_NAME = "aks-netaudit"
_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning reads this (a number as text) to bucket results by severity.
_SECURITY_SEVERITY = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
    "info": "1.0",
}


def _is_web_url(reference: str) -> bool:
    """helpUri must be an absolute URI; a reference that is prose stays in the help text."""
    parts = urlsplit(reference)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in reference


def _help_text(info: RuleInfo) -> str:
    lines = [info.remediation or info.title]
    if info.references:
        lines += ["", "References:", *(f"- {reference}" for reference in info.references)]
    return "\n".join(lines)


def _rule(info: RuleInfo) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": info.id,
        "name": info.id.replace("-", ""),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.rationale or info.title},
        "help": {"text": _help_text(info)},
        "defaultConfiguration": {"level": _LEVELS[info.severity]},
        "properties": {"security-severity": _SECURITY_SEVERITY[info.severity]},
    }
    links = [reference for reference in info.references if _is_web_url(reference)]
    if links:
        rule["helpUri"] = links[0]
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
    result: dict[str, Any] = {
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
            "status": finding.status,
            "cluster": finding.cluster,
            "clusterId": finding.cluster_id,
            "evidence": finding.evidence,
            **_expired_waiver(finding),
        },
        **_suppressions(finding),
    }
    return result


def _uncatalogued(finding: ReportFinding) -> RuleInfo:
    """A rule no longer in the catalogue (a stored finding of a removed rule): described by
    its finding."""
    return RuleInfo(finding.rule, finding.title or finding.rule, finding.severity, "", "", ())


def _tool_version() -> str | None:
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return None


def _driver(rules: list[RuleInfo]) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": TOOL_NAME, "rules": [_rule(info) for info in rules]}
    version = _tool_version()
    if version:
        driver["version"] = version
    return driver


def render_sarif(report: Report) -> str:
    findings = sorted_findings(report.findings)
    first = {f.rule: f for f in reversed(findings)}
    ids = sorted(first)
    infos = [report.rules.get(rule_id) or _uncatalogued(first[rule_id]) for rule_id in ids]
    index = {rule_id: position for position, rule_id in enumerate(ids)}
    document = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": _driver(infos)},
                "results": [_result(f, index[f.rule]) for f in findings],
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
