"""``--format csv``: one row per finding, the JSON schema's finding fields as columns."""

from __future__ import annotations

import csv
import io
import json

from netaudit.collector.reports.json_report import finding_document
from netaudit.collector.reports.model import Report, sorted_findings

COLUMNS = (
    "rule", "severity", "cluster", "cluster_id", "resource", "title", "message", "evidence",
    "remediation", "references", "fingerprint", "status", "first_seen", "last_seen", "waiver",
)  # fmt: skip


def render_csv(report: Report) -> str:
    """Evidence as a JSON object and references space-separated, so each stays one cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for finding in sorted_findings(report.findings):
        row = finding_document(finding)
        row["evidence"] = json.dumps(row["evidence"], sort_keys=True)
        row["references"] = " ".join(row["references"])
        writer.writerow({key: "" if row[key] is None else row[key] for key in COLUMNS})
    return out.getvalue()
