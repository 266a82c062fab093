"""A plain-text findings table: rule, severity, cluster, resource and evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
