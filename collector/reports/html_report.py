"""``--format html``: one self-contained page (no external assets): the summary, a
section per cluster, and a findings table that sorts by any column when its header
is clicked (a few lines of inline JavaScript)."""

from __future__ import annotations

from html import escape
from itertools import groupby

from netaudit.collector.reports.model import Report, ReportFinding, severity_rank, sorted_findings
from netaudit.collector.reports.table import short_resource, waiver_label

COLUMNS = ("Severity", "Rule", "Cluster", "Resource", "Title", "Message", "Waiver")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
.critical { color: #a00; font-weight: bold; } .high { color: #c40; } .medium { color: #960; }
.waived { color: #666; } .expired-waiver { color: #a00; }
"""

# Sorts the table whose header was clicked by that column; data-key (when set) sorts
# severities by rank rather than by name. Clicking again reverses the order. The column is
# the header's own cellIndex (the page has one table per cluster besides the full one), and
# aria-sort both tells screen readers the order and holds it for the next click.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var column = th.cellIndex;
    var body = th.closest("table").tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    th.closest("tr").querySelectorAll("th").forEach(function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var key = function (row) {
      var cell = row.cells[column];
      return cell.dataset.key !== undefined ? cell.dataset.key : cell.textContent.trim();
    };
    Array.from(body.rows)
      .sort(function (a, b) {
        var order = key(a).localeCompare(key(b), undefined, { numeric: true });
        return ascending ? order : -order;
      })
      .forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _row(finding: ReportFinding) -> str:
    cells = [
        f'<td class="{finding.severity}" data-key="{severity_rank(finding.severity)}">'
        f"{finding.severity}</td>",
        f"<td>{escape(finding.rule)}</td>",
        f"<td>{escape(finding.cluster)}</td>",
        f'<td title="{escape(finding.resource)}">{escape(short_resource(finding.resource))}</td>',
        f"<td>{escape(finding.title)}</td>",
        f"<td>{escape(finding.message)}</td>",
        f'<td class="{escape(finding.status)}">{escape(waiver_label(finding))}</td>',
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _findings_table(findings: list[ReportFinding], table_id: str) -> str:
    header = "".join(f'<th scope="col">{column}</th>' for column in COLUMNS)
    rows = "\n".join(_row(f) for f in findings)
    return (
        f'<table class="sortable" id="{table_id}"><thead><tr>{header}</tr></thead>'
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _summary(report: Report) -> str:
    summary = report.summary()
    by_severity = "".join(
        f'<tr><td class="{label}">{label}</td><td>{count}</td></tr>'
        for label, count in summary["by_severity"].items()  # type: ignore[attr-defined]
    )
    return (
        f"<p>{summary['clusters']} cluster(s): <strong>{summary['findings']} findings</strong>, "
        f"{summary['passed']} passed, {summary['not_assessed']} not assessed.</p>"
        f"<table><thead><tr><th>Severity</th><th>Findings</th></tr></thead>"
        f"<tbody>{by_severity}</tbody></table>"
    )


def _cluster_sections(report: Report) -> list[str]:
    findings = {
        cluster_id: list(found)
        for cluster_id, found in groupby(
            sorted(sorted_findings(report.findings), key=lambda f: f.cluster_id),
            key=lambda f: f.cluster_id,
        )
    }
    sections = []
    for number, (cluster_id, name) in enumerate(report.clusters):
        passed = sum(1 for o in report.passed if o.cluster_id == cluster_id)
        skipped = [o for o in report.not_assessed if o.cluster_id == cluster_id]
        found = sorted_findings(findings.get(cluster_id, []))
        parts = [
            f"<section><h2>{escape(name)}</h2><p><code>{escape(cluster_id)}</code></p>",
            f"<p>{len(found)} findings, {passed} passed, {len(skipped)} not assessed.</p>",
        ]
        if found:
            parts.append(_findings_table(found, f"cluster-{number}"))
        if skipped:
            items = "".join(f"<li>{escape(o.rule)}: {escape(o.reason)}</li>" for o in skipped)
            parts.append(f"<details><summary>Not assessed</summary><ul>{items}</ul></details>")
        parts.append("</section>")
        sections.append("\n".join(parts))
    return sections


def _unmatched_waivers(report: Report) -> list[str]:
    if not report.unmatched_waivers:
        return []
    items = "".join(
        f"<li>{escape(w.describe())}, expires {w.expires}</li>" for w in report.unmatched_waivers
    )
    return [f"<h2>Waivers that matched no finding</h2><ul>{items}</ul>"]


def render_html(report: Report) -> str:
    body = [
        "<h1>AKS network audit</h1>",
        _summary(report),
        *_unmatched_waivers(report),
        "<h2>All findings</h2>",
        _findings_table(sorted_findings(report.findings), "findings"),
        *_cluster_sections(report),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>AKS network audit</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
