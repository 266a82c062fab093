"""`netaudit scan --fresh`: ask every connected agent for a fresh report before scanning.

Progress goes to stderr as the collector reports it ("2/3 answered: aks-b"); the summary
names the clusters that answered, those that timed out and those not connected (known
to the store, or named with --cluster, but with no stream on any replica). The scan then
runs over whatever the store holds: a cluster that did not answer is scanned on its last
report, and the summary says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from netaudit.collector.config import Settings
from netaudit.collector.ingest.admin_client import (
    FreshReports,
    admin_address,
    request_fresh_reports,
)
from netaudit.v1 import admin_pb2


def short_name(cluster_key: str) -> str:
    """A cluster's name (the ARM id's last segment), for progress lines."""
    return cluster_key.rstrip("/").rsplit("/", 1)[-1]


def progress_line(event: admin_pb2.RequestReportsResponse) -> str | None:
    name = short_name(event.cluster_key)
    counts = f"{event.answered}/{event.requested} answered"
    if event.outcome == admin_pb2.REQUEST_OUTCOME_REQUESTED:
        return f"fresh reports: {counts}; asked {name}"
    if event.outcome == admin_pb2.REQUEST_OUTCOME_ANSWERED:
        return f"fresh reports: {counts}; {name} answered"
    return None


def summary_lines(outcome: FreshReports) -> list[str]:
    """One line per outcome, every cluster named by its ARM id (lower-cased)."""
    groups = (
        ("answered", sorted(outcome.answered)),
        ("timed out (scanned on its last report)", outcome.timed_out),
        ("not connected (scanned on its last report)", outcome.not_connected),
    )
    lines = [f"fresh reports (request {outcome.request_id}):"]
    for label, keys in groups:
        lines.append(f"  {label}: {len(keys)}")
        lines.extend(f"    {key}" for key in keys)
    return lines


def fresh_reports(
    settings: Settings,
    cluster_ids: Sequence[str],
    timeout_seconds: float | None,
    progress: Callable[[str], None],
) -> FreshReports:
    address = admin_address(settings.admin, settings.endpoints_file)
    timeout = timeout_seconds or settings.admin.fresh_timeout_seconds
    progress(f"asking the agents for fresh reports through {address} (up to {timeout:g} s)")

    def on_event(event: admin_pb2.RequestReportsResponse) -> None:
        line = progress_line(event)
        if line is not None:
            progress(line)

    return request_fresh_reports(settings.admin, address, cluster_ids, timeout, on_event)
