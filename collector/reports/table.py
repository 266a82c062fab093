"""Plain text: the findings table of ``scan`` and ``report`` (rule, severity, cluster, resource,
evidence), and the ``table`` format of a report grouped by cluster, then severity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby

from netaudit.collector.reports.model import Report, sorted_findings
from netaudit.v1 import audit_pb2

SEVERITY_ORDER = {
    audit_pb2.SEVERITY_CRITICAL: 0,
    audit_pb2.SEVERITY_HIGH: 1,
    audit_pb2.SEVERITY_MEDIUM: 2,
    audit_pb2.SEVERITY_LOW: 3,
    audit_pb2.SEVERITY_INFO: 4,
}
HEADERS = ("RULE", "SEVERITY", "CLUSTER", "RESOURCE", "EVIDENCE")


def severity_name(severity: int) -> str:
    return audit_pb2.Severity.Name(audit_pb2.Severity.ValueType(severity)).removeprefix("SEVERITY_")


def short_resource(resource: str) -> str:
    """The names in an ARM id (…/virtualNetworks/vnet/subnets/snet → vnet/snet)."""
    parts = [p for p in resource.split("/") if p]
    lowered = [p.lower() for p in parts]
    if not lowered or lowered[0] != "subscriptions" or "providers" not in lowered:
        return resource
    typed = parts[lowered.index("providers") + 2 :]  # skip the provider namespace
    return "/".join(typed[1::2]) or resource


def evidence_text(finding: audit_pb2.Finding) -> str:
    return " ".join(f"{key}={finding.evidence[key]}" for key in sorted(finding.evidence))


def sort_key(finding: audit_pb2.Finding, cluster: str) -> tuple[int, str, str, str]:
    return (SEVERITY_ORDER.get(finding.severity, 9), finding.rule_id, cluster, finding.resource)


def render_findings_table(
    findings: Sequence[audit_pb2.Finding], cluster_names: Mapping[str, str]
) -> str:
    if not findings:
        return "no open findings"
    rows = []
    for finding in sorted(
        findings, key=lambda f: sort_key(f, cluster_names.get(f.cluster_key, f.cluster_key))
    ):
        rows.append(
            (
                finding.rule_id,
                severity_name(finding.severity),
                cluster_names.get(finding.cluster_key, finding.cluster_key),
                short_resource(finding.resource),
                evidence_text(finding),
            )
        )
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS) - 1)]
    lines = []
    for row in [HEADERS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def render_table(report: Report) -> str:
    """Each cluster, then each severity, with every finding's title and one-line message;
    a closing line with the counts of findings, passed and not assessed."""
    lines: list[str] = []
    findings = sorted_findings(report.findings)
    for (cluster, cluster_id), in_cluster in groupby(
        findings, key=lambda f: (f.cluster, f.cluster_id)
    ):
        lines.append(f"{cluster}  ({cluster_id})")
        for severity, at_severity in groupby(in_cluster, key=lambda f: f.severity):
            lines.append(f"  {severity.upper()}")
            for finding in at_severity:
                lines.append(
                    f"    {finding.rule}  {finding.title}  [{short_resource(finding.resource)}]"
                )
                if finding.message:
                    lines.append(f"      {finding.message}")
        lines.append("")
    found = {f.cluster_id for f in findings}
    for cluster_id, name in report.clusters:
        if cluster_id not in found:
            lines.extend([f"{name}  ({cluster_id})", "  no findings", ""])
    summary = report.summary()
    errors = f", {summary['errors']} error" if report.errors else ""
    lines.append(
        f"{summary['clusters']} cluster(s): {summary['findings']} findings, "
        f"{summary['passed']} passed, {summary['not_assessed']} not assessed{errors}"
    )
    return "\n".join(lines)
