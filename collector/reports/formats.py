"""The report formats by name, for ``--format`` of audit, scan and report."""

from __future__ import annotations

from collections.abc import Callable

from netaudit.collector.reports.csv_report import render_csv
from netaudit.collector.reports.html_report import render_html
from netaudit.collector.reports.json_report import render_json
from netaudit.collector.reports.markdown import render_markdown
from netaudit.collector.reports.model import Report
from netaudit.collector.reports.sarif import render_sarif
from netaudit.collector.reports.table import render_table

RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
    "html": render_html,
    "sarif": render_sarif,
}
FORMATS = tuple(RENDERERS)


def render(report: Report, format_name: str) -> str:
    return RENDERERS[format_name](report)
