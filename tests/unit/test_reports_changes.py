"""`report --since SCAN`: which findings are new, resolved or still open since a scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from netaudit.collector.reports.changes import (
    NEW,
    RESOLVED,
    STILL_OPEN,
    Changes,
    change_since,
    render_changes_json,
    render_changes_table,
)
from netaudit.collector.reports.model import ReportFinding

FINISHED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BEFORE = FINISHED - timedelta(hours=1)
AFTER = FINISHED + timedelta(hours=1)
LATER = FINISHED + timedelta(hours=2)


@pytest.mark.parametrize(
    ("first_seen", "resolved_at", "change"),
    [
        (BEFORE, None, STILL_OPEN),
        (FINISHED, None, STILL_OPEN),
        (BEFORE, AFTER, RESOLVED),
        (BEFORE, FINISHED, None),  # resolved by that scan itself: gone already
        (BEFORE, BEFORE, None),
        (AFTER, None, NEW),
        (AFTER, LATER, None),  # came and went after the scan
    ],
)
def test_a_finding_is_new_resolved_or_still_open_relative_to_the_scan_end(
    first_seen: datetime, resolved_at: datetime | None, change: str | None
) -> None:
    assert change_since(first_seen, resolved_at, FINISHED) == change


def finding(rule: str) -> ReportFinding:
    return ReportFinding(
        rule=rule,
        severity="high",
        cluster="aks-1",
        cluster_id="/subscriptions/a/resourcegroups/rg/providers/x/managedclusters/aks-1",
        resource="/subscriptions/a/resourcegroups/rg/providers/x/managedclusters/aks-1",
        title=f"title {rule}",
        message=f"message {rule}",
        evidence={},
        remediation="",
        references=(),
        fingerprint=rule.ljust(64, "0"),
    )


CHANGES = Changes(7, FINISHED, (finding("CNI-003"),), (finding("CNI-001"),), (finding("CNI-002"),))


def test_the_json_lists_each_change_with_the_report_finding_fields() -> None:
    document = json.loads(render_changes_json(CHANGES))
    assert document["since"] == {"scan": 7, "finished_at": "2026-11-01T12:00:00+00:00"}
    assert [f["rule"] for f in document["new"]] == ["CNI-003"]
    assert [f["rule"] for f in document["resolved"]] == ["CNI-001"]
    assert [f["rule"] for f in document["still_open"]] == ["CNI-002"]
    assert document["summary"] == {"new": 1, "resolved": 1, "still_open": 1}
    assert set(document["new"][0]) >= {"fingerprint", "status", "waiver", "message"}


def test_the_table_has_a_section_per_change_and_a_closing_count() -> None:
    lines = render_changes_table(CHANGES).splitlines()
    assert lines[0] == "since scan 7 (finished 2026-11-01 12:00 UTC)"
    sections = [line for line in lines if line and not line.startswith(" ")][1:-1]
    assert sections == ["NEW (1)", "RESOLVED (1)", "STILL OPEN (1)"]
    assert lines[lines.index("NEW (1)") + 1].startswith("  CNI-003  HIGH      aks-1  title CNI-003")
    assert lines[-1] == "1 new, 1 resolved, 1 still open since scan 7"
