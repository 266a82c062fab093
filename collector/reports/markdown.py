"""``--format markdown``: a summary, then a findings table per cluster (for a PR comment or
a wiki page)."""

from __future__ import annotations

from itertools import groupby

from netaudit.collector.reports.model import Report, sorted_findings
from netaudit.collector.reports.table import short_resource, waiver_label


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    summary = report.summary()
    lines = [
        "# AKS network audit",
        "",
        f"{summary['clusters']} cluster(s): **{summary['findings']} findings**, "
        f"{summary['passed']} passed, {summary['not_assessed']} not assessed.",
        "",
        "| Severity | Findings |",
        "|---|---|",
        *(f"| {label} | {count} |" for label, count in summary["by_severity"].items()),  # type: ignore[attr-defined]
    ]
    for (cluster, cluster_id), found in groupby(
        sorted_findings(report.findings), key=lambda f: (f.cluster, f.cluster_id)
    ):
        lines += ["", f"## {_cell(cluster)}", "", f"`{cluster_id}`", ""]
        lines += [
            "| Severity | Rule | Title | Resource | Message | Waiver |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {f.severity} | {f.rule} | {_cell(f.title)} | {_cell(short_resource(f.resource))} "
            f"| {_cell(f.message)} | {_cell(waiver_label(f))} |"
            for f in found
        ]
    if report.unmatched_waivers:
        lines += ["", "## Waivers that matched no finding", ""]
        lines += [f"- {_cell(w.describe())}, expires {w.expires}" for w in report.unmatched_waivers]
    if report.not_assessed:
        lines += ["", "## Not assessed", "", "| Cluster | Rule | Reason |", "|---|---|---|"]
        lines += [
            f"| {_cell(o.cluster)} | {o.rule} | {_cell(o.reason)} |" for o in report.not_assessed
        ]
    return "\n".join(lines) + "\n"
