"""What `scan --fresh` prints: progress per event, and the outcome by cluster."""

from __future__ import annotations

import pytest

from netaudit.collector.fresh_reports import progress_line, summary_lines
from netaudit.collector.ingest.admin_client import FreshReports
from netaudit.v1 import admin_pb2

A = "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/aks-a"
B = A.replace("aks-a", "aks-b")


@pytest.mark.parametrize(
    ("outcome", "requested", "answered", "line"),
    [
        (admin_pb2.REQUEST_OUTCOME_REQUESTED, 2, 0, "fresh reports: 0/2 answered; asked aks-a"),
        (admin_pb2.REQUEST_OUTCOME_ANSWERED, 2, 1, "fresh reports: 1/2 answered; aks-a answered"),
        (admin_pb2.REQUEST_OUTCOME_TIMED_OUT, 2, 1, None),
        (admin_pb2.REQUEST_OUTCOME_NOT_CONNECTED, 2, 1, None),
    ],
)
def test_progress_counts_answers_of_the_requested_agents(
    outcome: admin_pb2.RequestOutcome.ValueType, requested: int, answered: int, line: str | None
) -> None:
    event = admin_pb2.RequestReportsResponse(
        cluster_key=A, outcome=outcome, requested=requested, answered=answered
    )
    assert progress_line(event) == line


def test_the_summary_names_every_cluster_under_its_outcome() -> None:
    outcome = FreshReports("req-1", answered={B: "r-b", A: "r-a"}, not_connected=[B])
    assert summary_lines(outcome) == [
        "fresh reports (request req-1):",
        "  answered: 2",
        f"    {A}",
        f"    {B}",
        "  timed out (scanned on its last report): 0",
        "  not connected (scanned on its last report): 1",
        f"    {B}",
    ]
