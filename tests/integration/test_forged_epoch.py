"""The collector decides which report is latest: its own commit order, never a number the
client declares. Real parts: the sandbox's Kubernetes API and ARM, the agent's gatherers,
the store, and the scan's chunk and fleet steps in this process (as in test_scan_verdicts).

The attack of issue 7: one report with agent_epoch = 2**62 and empty CoreDNS and Gateway
sections used to pin itself as "latest" for good and resolve the open DNS-002 and GWA-002.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netaudit.collector.store import CommitOutcome, StaleReport, Store, upgrade
from netaudit.sandbox.runner import start_sandbox
from netaudit.v1 import report_pb2
from tests.integration.sandbox_exports import agent_report as gather
from tests.integration.sandbox_exports import read_inventories
from tests.integration.sandbox_exports import scan_in_process as scan

CLUSTER = "aks-overlay-priv-weu"

WATCHED = ("DNS-002", "GWA-002")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    with Store(url) as opened:
        yield opened


def forged_from(report: report_pb2.Report, report_id: str) -> report_pb2.Report:
    forged = report_pb2.Report()
    forged.CopyFrom(report)
    forged.report_id, forged.agent_epoch, forged.sequence = report_id, 2**62, 1
    forged.ClearField("coredns")
    forged.ClearField("gateway_api")
    return forged


def open_watched(store: Store, key: str) -> dict[str, str]:
    return {
        f.finding.rule_id: f.fingerprint
        for f in store.open_findings(key)
        if f.finding.rule_id in WATCHED
    }


def test_a_forged_epoch_never_becomes_latest_nor_resolves_dns_002(
    tmp_path: Path, store: Store
) -> None:
    with start_sandbox(tmp_path / "sandbox") as running:
        cluster = running.cluster(CLUSTER)
        read_inventories(running, store)
        first = gather(cluster, running.dns_server)
        store.commit_report(first, agent_id="agent-1", received_at=datetime.now(UTC))
        scan(store)
        opened = open_watched(store, cluster.key)
        assert sorted(opened) == sorted(WATCHED)

        forged = forged_from(first, "forged")
        store.commit_report(forged, agent_id="agent-1", received_at=datetime.now(UTC))
        later = gather(cluster, running.dns_server)  # the agent's next report, a normal epoch
    assert later.agent_epoch < forged.agent_epoch
    store.commit_report(later, agent_id="agent-1", received_at=datetime.now(UTC))

    latest = store.latest_report(cluster.key)
    assert latest is not None and latest.report.report_id == later.report_id
    scan(store)
    assert open_watched(store, cluster.key) == opened

    # Sent again, or replayed under a new id: still never the latest.
    resent = store.commit_report(forged, agent_id="agent-1", received_at=datetime.now(UTC))
    assert resent == CommitOutcome.DUPLICATE
    with pytest.raises(StaleReport):
        store.commit_report(
            forged_from(first, "forged-again"), agent_id="agent-1", received_at=datetime.now(UTC)
        )
    assert [r.report.report_id for r in store.all_latest_reports()] == [later.report_id]
    scan(store)
    assert open_watched(store, cluster.key) == opened
    outcomes = {o.rule_id: o.outcome for o in store.outcomes(cluster.key)}
    assert [outcomes[rule] for rule in WATCHED] == ["findings", "findings"]
