"""Plain text: the findings table of ``scan`` and ``report`` (each rule with its title, then
cluster, resource and evidence of each finding), and the ``table`` format of a report
grouped by cluster, then severity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby

from netaudit.collector.reports.evidence import readable_evidence
from netaudit.collector.reports.model import (
    EXPIRED_WAIVER,
    WAIVED,
    Report,
    ReportFinding,
    sorted_findings,
)
from netaudit.v1 import audit_pb2

SEVERITY_ORDER = {
    audit_pb2.SEVERITY_CRITICAL: 0,
    audit_pb2.SEVERITY_HIGH: 1,
    audit_pb2.SEVERITY_MEDIUM: 2,
    audit_pb2.SEVERITY_LOW: 3,
    audit_pb2.SEVERITY_INFO: 4,
}


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


def sort_key(finding: audit_pb2.Finding, cluster: str) -> tuple[int, str, str, str]:
    return (SEVERITY_ORDER.get(finding.severity, 9), finding.rule_id, cluster, finding.resource)


def _resource_cell(finding: audit_pb2.Finding, cluster: str) -> str:
    resource = short_resource(finding.resource)
    return "(cluster)" if resource == cluster else resource


FindingIdentity = tuple[str, str, str]
"""(rule id, cluster key, resource): what identifies a finding across scans."""


def identity(finding: audit_pb2.Finding) -> FindingIdentity:
    return finding.rule_id, finding.cluster_key, finding.resource


def render_findings_table(
    findings: Sequence[audit_pb2.Finding],
    cluster_names: Mapping[str, str],
    marks: Mapping[FindingIdentity, str] | None = None,
) -> str:
    """One heading per rule (id, severity, title), then one line per finding: cluster,
    resource and readable evidence, in columns aligned over the whole table; ``marks``
    (a waiver's, by finding) end their finding's line."""
    if not findings:
        return "no open findings"

    def cluster_of(finding: audit_pb2.Finding) -> str:
        return cluster_names.get(finding.cluster_key, finding.cluster_key)

    ordered = sorted(findings, key=lambda f: sort_key(f, cluster_of(f)))
    cells = [(cluster_of(f), _resource_cell(f, cluster_of(f))) for f in ordered]
    cluster_width = max(len(cluster) for cluster, _ in cells)
    resource_width = max(len(resource) for _, resource in cells)
    lines = []
    heading = ""
    for finding, (cluster, resource) in zip(ordered, cells, strict=True):
        rule = f"{finding.rule_id}  {severity_name(finding.severity):8}  {finding.title}".rstrip()
        if rule != heading:
            lines.append(rule)
            heading = rule
        evidence = "  ".join(readable_evidence(finding.evidence))
        mark = (marks or {}).get(identity(finding))
        if mark:
            evidence = f"{evidence}  [{mark}]" if evidence else f"[{mark}]"
        row = f"  {cluster.ljust(cluster_width)}  {resource.ljust(resource_width)}  {evidence}"
        lines.append(row.rstrip())
    return "\n".join(lines)


def waiver_label(finding: ReportFinding) -> str:
    """``WAIVED until …`` or ``WAIVER EXPIRED …``: the mark of a finding a waiver covers."""
    if finding.waiver is None:
        return ""
    waiver = finding.waiver
    if finding.status == EXPIRED_WAIVER:
        return (
            f"WAIVER EXPIRED {waiver.expires.isoformat()} ({waiver.owner}): {waiver.reason}; "
            "reported again"
        )
    return f"WAIVED until {waiver.expires.isoformat()} ({waiver.owner}): {waiver.reason}"


def waiver_marks(report: Report) -> dict[FindingIdentity, str]:
    """The waiver mark of every finding a waiver covers, for :func:`render_findings_table`."""
    return {
        (f.rule, f.cluster_id, f.resource): waiver_label(f)
        for f in report.findings
        if f.waiver is not None
    }


def _waived(report: Report) -> str:
    waived = sum(1 for f in report.findings if f.status == WAIVED)
    return f" ({waived} waived)" if waived else ""


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
                if finding.waiver is not None:
                    lines.append(f"      {waiver_label(finding)}")
        lines.append("")
    found = {f.cluster_id for f in findings}
    for cluster_id, name in report.clusters:
        if cluster_id not in found:
            lines.extend([f"{name}  ({cluster_id})", "  no findings", ""])
    summary = report.summary()
    errors = f", {summary['errors']} error" if report.errors else ""
    lines.append(
        f"{summary['clusters']} cluster(s): {summary['findings']} findings{_waived(report)}, "
        f"{summary['passed']} passed, {summary['not_assessed']} not assessed{errors}"
    )
    return "\n".join(lines)
