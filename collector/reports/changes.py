"""`netaudit report --since SCAN`: the findings new, resolved and still open since a scan.

The store keeps when each finding was first seen and when it was resolved, not
which scans saw it, so the comparison is in time against the moment scan SCAN
finished: every finding that scan recorded was first seen before it finished.
A finding resolved before SCAN and reopened after it counts as still open (the
store keeps its first sighting only).

``--format json`` writes::

    {"since": {"scan": 7, "finished_at": "…"},
     "new": [finding, …], "resolved": [finding, …], "still_open": [finding, …],
     "summary": {"new": 1, "resolved": 2, "still_open": 5}}

each finding as in the report's JSON schema (report.schema.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from netaudit.collector.reports.json_report import finding_document
from netaudit.collector.reports.model import ReportFinding, sorted_findings
from netaudit.collector.reports.table import short_resource, waiver_label

NEW = "new"
RESOLVED = "resolved"
STILL_OPEN = "still_open"
CHANGES = (NEW, RESOLVED, STILL_OPEN)
_HEADINGS = {NEW: "NEW", RESOLVED: "RESOLVED", STILL_OPEN: "STILL OPEN"}


def change_since(
    first_seen: datetime, resolved_at: datetime | None, scan_finished_at: datetime
) -> str | None:
    """new, resolved or still_open relative to a scan that finished at ``scan_finished_at``;
    None for a finding that came and went after it, or was resolved before it."""
    if first_seen > scan_finished_at:
        return NEW if resolved_at is None else None
    if resolved_at is None:
        return STILL_OPEN
    return RESOLVED if resolved_at > scan_finished_at else None


@dataclass(frozen=True)
class Changes:
    scan_id: int
    scan_finished_at: datetime
    new: tuple[ReportFinding, ...]
    resolved: tuple[ReportFinding, ...]
    still_open: tuple[ReportFinding, ...]

    def of(self, change: str) -> tuple[ReportFinding, ...]:
        return {NEW: self.new, RESOLVED: self.resolved, STILL_OPEN: self.still_open}[change]

    def summary(self) -> dict[str, int]:
        return {change: len(self.of(change)) for change in CHANGES}


def render_changes_table(changes: Changes) -> str:
    """A section per change (new, resolved, still open), each finding with its cluster,
    title and message; a closing line with the counts."""
    lines = [
        f"since scan {changes.scan_id} (finished {changes.scan_finished_at:%Y-%m-%d %H:%M} UTC)"
    ]
    for change in CHANGES:
        found = sorted_findings(changes.of(change))
        lines += ["", f"{_HEADINGS[change]} ({len(found)})"]
        for finding in found:
            lines.append(
                f"  {finding.rule}  {finding.severity.upper():8}  {finding.cluster}  "
                f"{finding.title}  [{short_resource(finding.resource)}]"
            )
            if finding.message:
                lines.append(f"      {finding.message}")
            if finding.waiver is not None:
                lines.append(f"      {waiver_label(finding)}")
    counts = changes.summary()
    lines += [
        "",
        f"{counts[NEW]} new, {counts[RESOLVED]} resolved, {counts[STILL_OPEN]} still open "
        f"since scan {changes.scan_id}",
    ]
    return "\n".join(lines)


def render_changes_json(changes: Changes) -> str:
    document = {
        "since": {"scan": changes.scan_id, "finished_at": changes.scan_finished_at.isoformat()},
        **{
            change: [finding_document(f) for f in sorted_findings(changes.of(change))]
            for change in CHANGES
        },
        "summary": changes.summary(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
