"""The Store API on a real database: a temporary SQLite file, and PostgreSQL on 127.0.0.1.

PostgreSQL gets one throwaway database per test session (created and dropped here);
each test starts from empty tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from netaudit.collector.store import (
    CommitOutcome,
    InvalidFinding,
    InvalidInventory,
    InvalidReport,
    ReportContradictsInventory,
    SchemaNotCurrent,
    StaleReport,
    Store,
    StoredFinding,
    StoreUnavailable,
    UnknownCluster,
    UnknownScan,
    current_revision,
    fingerprint,
    head_revision,
    upgrade,
)
from netaudit.collector.store.tables import metadata
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def arm_cluster_id(fixture: str) -> str:
    """The cluster id exactly as a published ARM payload spells it."""
    document = json.loads((SHARED_FIXTURES / "arm" / "managedclusters" / fixture).read_text())
    body = document["responses"]["200"]["body"]
    cluster = body["value"][0] if "value" in body else body
    return str(cluster["id"])


# The same cluster, spelled `resourceGroups` by ManagedClusters_Get and `resourcegroups`
# by ManagedClusters_List.
CLUSTER_ID_GET = arm_cluster_id("ManagedClustersGet.json")
CLUSTER_ID_LIST = arm_cluster_id("ManagedClustersList.json")
CLUSTER_KEY = CLUSTER_ID_GET.lower()
OTHER_ID = (
    "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg2/providers/"
    "Microsoft.ContainerService/managedClusters/other"
)
OTHER_KEY = OTHER_ID.lower()


def make_report(
    report_id: str,
    *,
    cluster_id: str = CLUSTER_ID_GET,
    name: str = "clustername1",
    epoch: int = 1,
    sequence: int = 1,
) -> report_pb2.Report:
    report = report_pb2.Report(report_id=report_id, agent_epoch=epoch, sequence=sequence)
    report.cluster.arm_resource_id = cluster_id
    report.cluster.name = name
    report.cluster.region = "location1"
    return report


def make_inventory(
    cluster_id: str = CLUSTER_ID_LIST, *, refreshed_at: datetime = T0, version: str = "1.30"
) -> inventory_pb2.ClusterInventory:
    inventory = inventory_pb2.ClusterInventory(
        arm_resource_id=cluster_id,
        subscription_id="00000000-0000-0000-0000-000000000000",
        name="clustername1",
        location="location1",
        kubernetes_version=version,
    )
    inventory.refreshed_at.FromDatetime(refreshed_at)
    return inventory


def make_finding(
    rule_id: str,
    resource: str,
    *,
    severity: audit_pb2.Severity.ValueType = audit_pb2.SEVERITY_MEDIUM,
    message: str = "m",
    evidence: dict[str, str] | None = None,
) -> audit_pb2.Finding:
    return audit_pb2.Finding(
        rule_id=rule_id,
        title=f"{rule_id} title",
        severity=severity,
        resource=resource,
        message=message,
        evidence=evidence or {"used": "10"},
        remediation="fix it",
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


# -- schema ----------------------------------------------------------------------


def test_migrated_schema_equals_the_tables_the_code_uses(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_upgrade_brings_a_new_database_to_head_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'folder' / 'netaudit.db'}"
    assert current_revision(url) is None
    assert not (tmp_path / "new").exists(), "asking for the revision must not create files"

    upgrade(url)
    upgrade(url)

    assert current_revision(url) == head_revision()


def test_upgrade_of_postgresql_reaches_head(postgresql_url: str) -> None:
    assert current_revision(postgresql_url) == head_revision()


def test_open_refuses_a_database_without_schema_and_says_what_to_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaNotCurrent, match="netaudit db upgrade"):
        Store.open(url)


def test_an_unmigrated_database_fails_with_what_to_run_not_a_driver_error(tmp_path: Path) -> None:
    with (
        Store(f"sqlite:///{tmp_path / 'empty.db'}") as store,
        pytest.raises(SchemaNotCurrent, match="run `netaudit db upgrade`"),
    ):
        store.cluster_keys()


def test_an_unreachable_postgresql_is_unavailable_and_its_password_stays_hidden() -> None:
    # port 9 (discard) is closed on loopback: the connection is refused at once
    with Store("postgresql+psycopg://postgres:s3cret@127.0.0.1:9/none") as store:
        assert "s3cret" not in repr(store)
        with pytest.raises(StoreUnavailable) as raised:
            store.cluster_keys()

    message = str(raised.value)
    assert "postgres:***@127.0.0.1:9/none is unavailable" in message
    assert "s3cret" not in message


def test_a_sqlite_file_that_cannot_be_opened_is_reported_as_unavailable(tmp_path: Path) -> None:
    with (
        Store(f"sqlite:///{tmp_path}") as store,  # a folder, not a file
        pytest.raises(StoreUnavailable, match="unavailable"),
    ):
        store.cluster_keys()


# -- reports ---------------------------------------------------------------------


def test_commit_is_idempotent_on_report_id(store: Store) -> None:
    report = make_report("r-1")

    first = store.commit_report(report, agent_id="agent-a", received_at=T0)
    again = store.commit_report(report, agent_id="agent-a", received_at=T0 + timedelta(minutes=1))

    assert (first, again) == (CommitOutcome.COMMITTED, CommitOutcome.DUPLICATE)
    assert store.report_count(CLUSTER_KEY) == 1
    stored = store.latest_report(CLUSTER_KEY)
    assert stored is not None
    assert stored.received_at == T0
    assert stored.report == report


@pytest.mark.parametrize(
    ("report", "problem"),
    [
        (make_report(""), "no report_id"),
        (make_report("r-1", cluster_id=""), "no cluster.arm_resource_id"),
    ],
)
def test_a_report_without_ids_is_rejected(
    store: Store, report: report_pb2.Report, problem: str
) -> None:
    with pytest.raises(InvalidReport, match=problem):
        store.commit_report(report, agent_id="agent-a", received_at=T0)
    assert store.cluster_keys() == []


def test_cluster_key_is_the_lower_cased_arm_id_whatever_the_casing(store: Store) -> None:
    assert CLUSTER_ID_GET != CLUSTER_ID_LIST  # the real payloads disagree on casing

    store.commit_report(make_report("r-1"), agent_id="agent-a", received_at=T0)
    store.save_inventory(make_inventory(CLUSTER_ID_LIST))

    assert store.cluster_keys() == [CLUSTER_KEY]
    assert store.cluster_name(CLUSTER_ID_LIST) == "clustername1"
    assert store.latest_report(CLUSTER_ID_LIST) is not None
    assert store.inventory(CLUSTER_ID_GET) is not None


def test_latest_report_is_the_one_committed_last_whatever_its_epoch(store: Store) -> None:
    commits = [
        ("restarted-agent", "agent-b", 2, 1, T0),
        ("forged-epoch", "agent-x", 2**62, 1, T0 + timedelta(minutes=5)),
        ("clock-stepped-back", "agent-c", 1, 1, T0 + timedelta(minutes=6)),
    ]
    for report_id, agent_id, epoch, sequence, received_at in commits:
        store.commit_report(
            make_report(report_id, epoch=epoch, sequence=sequence),
            agent_id=agent_id,
            received_at=received_at,
        )
        latest = store.latest_report(CLUSTER_KEY)
        assert latest is not None
        assert latest.report.report_id == report_id
    assert [r.report.report_id for r in store.all_latest_reports()] == ["clock-stepped-back"]
    assert list(store.latest_reports([CLUSTER_ID_LIST])) == [CLUSTER_KEY]


def test_the_earlier_report_is_the_newest_committed_at_least_the_age_before_the_latest(
    store: Store,
) -> None:
    # CNI-007's two observations: reports 5 minutes apart, the latest at T0 + 20 min
    for minute in (0, 5, 10, 15, 20):
        store.commit_report(
            make_report(f"r{minute}", sequence=minute + 1),
            agent_id="agent-a",
            received_at=T0 + timedelta(minutes=minute),
        )
    store.commit_report(
        make_report("other", cluster_id=OTHER_ID), agent_id="agent-o", received_at=T0
    )
    earlier = store.earlier_reports([CLUSTER_ID_LIST, OTHER_ID], timedelta(minutes=10))
    # r10 is exactly 10 minutes older; the other cluster has a single report
    assert {k: r.report.report_id for k, r in earlier.items()} == {CLUSTER_KEY: "r10"}
    assert earlier[CLUSTER_KEY].received_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=10)
    assert store.earlier_reports([CLUSTER_KEY], timedelta(minutes=25)) == {}


def test_a_sequence_not_after_one_committed_from_the_same_agent_run_is_refused(
    store: Store,
) -> None:
    store.commit_report(make_report("r-5", sequence=5), agent_id="agent-a", received_at=T0)

    for report_id, sequence in (("replayed", 5), ("older", 4)):
        with pytest.raises(StaleReport, match=f"sequence {sequence}, not after 5"):
            store.commit_report(
                make_report(report_id, sequence=sequence), agent_id="agent-a", received_at=T0
            )
    # another run of the agent (new epoch), or another agent, has its own sequence
    store.commit_report(make_report("new-run", epoch=2, sequence=1), agent_id="agent-a",
                        received_at=T0)  # fmt: skip
    store.commit_report(make_report("other-agent", sequence=1), agent_id="agent-b", received_at=T0)

    latest = store.latest_report(CLUSTER_KEY)
    assert latest is not None
    assert (latest.report.report_id, latest.agent_id) == ("other-agent", "agent-b")
    assert store.report_count(CLUSTER_KEY) == 3


def test_a_report_naming_its_cluster_or_region_otherwise_than_arm_is_refused(
    store: Store,
) -> None:
    store.save_inventory(make_inventory())
    store.commit_report(make_report("arm-casing", name="ClusterName1"), agent_id="a",
                        received_at=T0)  # fmt: skip

    renamed = make_report("renamed", name="prod-payments", sequence=2)
    elsewhere = make_report("elsewhere", sequence=3)
    elsewhere.cluster.region = "eastus"
    for report, problem in ((renamed, "names cluster 'prod-payments'"), (elsewhere, "'eastus'")):
        with pytest.raises(ReportContradictsInventory, match=problem):
            store.commit_report(report, agent_id="a", received_at=T0)

    assert store.cluster_name(CLUSTER_KEY) == "clustername1"  # ARM's spelling stays
    latest = store.latest_report(CLUSTER_KEY)
    assert latest is not None and latest.report.report_id == "arm-casing"
    upgrading = make_report("upgrading", sequence=4)
    upgrading.cluster.kubernetes_version = "1.31.2"  # the inventory says 1.30
    upgrading.cluster.region = "Location 1"
    assert store.commit_report(upgrading, agent_id="a", received_at=T0) == CommitOutcome.COMMITTED


def test_only_the_latest_reports_of_each_cluster_are_kept(store_url: str) -> None:
    with Store(store_url, report_retention=3) as store:
        for sequence in range(1, 6):
            store.commit_report(
                make_report(f"r-{sequence}", sequence=sequence),
                agent_id="agent-a",
                received_at=T0 + timedelta(seconds=sequence),
            )
        store.commit_report(make_report("o-1", cluster_id=OTHER_ID), agent_id="b", received_at=T0)

        assert store.report_count(CLUSTER_KEY) == 3
        assert store.report_count(OTHER_KEY) == 1
        latest = store.latest_report(CLUSTER_KEY)
        assert latest is not None
        assert latest.report.report_id == "r-5"
        # a kept report is still a duplicate
        assert (
            store.commit_report(make_report("r-4", sequence=4), agent_id="a", received_at=T0)
            == CommitOutcome.DUPLICATE
        )


def test_all_latest_reports_returns_one_report_per_cluster(store: Store) -> None:
    store.commit_report(make_report("c-1", sequence=1), agent_id="a", received_at=T0)
    store.commit_report(make_report("c-2", sequence=2), agent_id="a", received_at=T0)
    store.commit_report(make_report("o-1", cluster_id=OTHER_ID), agent_id="b", received_at=T0)

    latest = store.all_latest_reports()

    assert [(stored.cluster_key, stored.report.report_id) for stored in latest] == [
        (CLUSTER_KEY, "c-2"),
        (OTHER_KEY, "o-1"),
    ]


def test_times_come_back_timezone_aware_in_utc(store: Store) -> None:
    received_at = datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    store.commit_report(make_report("r-1"), agent_id="a", received_at=received_at)

    stored = store.latest_report(CLUSTER_KEY)

    assert stored is not None
    assert stored.received_at == received_at
    assert stored.received_at.utcoffset() == timedelta(0)


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.commit_report(make_report("r-1"), agent_id="a", received_at=datetime(2026, 1, 1))


def test_agents_last_report_names_the_agent_and_the_last_arrival(store: Store) -> None:
    store.commit_report(make_report("r-1", sequence=5), agent_id="a", received_at=T0)
    # another agent (a replaced pod) reports later with a lower sequence: its report is the
    # last arrival, and the latest
    store.commit_report(make_report("r-0", sequence=1), agent_id="b", received_at=T0 + timedelta(1))
    store.save_inventory(make_inventory(OTHER_ID))  # no agent there

    agents = store.agents_last_report()

    assert [(a.cluster_key, a.cluster_name, a.agent_id, a.received_at) for a in agents] == [
        (CLUSTER_KEY, "clustername1", "b", T0 + timedelta(1))
    ]


# -- inventories and clusters ----------------------------------------------------


def test_save_inventory_upserts_and_an_older_refresh_never_wins(store: Store) -> None:
    store.save_inventory(make_inventory(refreshed_at=T0, version="1.30"))
    store.save_inventory(make_inventory(refreshed_at=T0 + timedelta(hours=1), version="1.31"))
    store.save_inventory(make_inventory(refreshed_at=T0 + timedelta(minutes=30), version="1.29"))

    saved = store.inventory(CLUSTER_KEY)

    assert saved is not None
    assert saved.kubernetes_version == "1.31"
    assert [inventory.kubernetes_version for inventory in store.all_inventories()] == ["1.31"]


def test_an_inventory_without_arm_id_is_rejected(store: Store) -> None:
    with pytest.raises(InvalidInventory, match="no arm_resource_id"):
        store.save_inventory(inventory_pb2.ClusterInventory(name="nameless"))


def test_unknown_clusters_have_no_name_report_or_inventory(store: Store) -> None:
    assert store.cluster_name(OTHER_KEY) is None
    assert store.latest_report(OTHER_KEY) is None
    assert store.inventory(OTHER_KEY) is None
    assert store.all_latest_reports() == []
    assert store.all_inventories() == []


def test_cluster_keys_lists_clusters_from_reports_and_inventories(store: Store) -> None:
    store.save_inventory(make_inventory(OTHER_ID))
    store.commit_report(make_report("r-1"), agent_id="a", received_at=T0)

    assert store.cluster_keys() == sorted([CLUSTER_KEY, OTHER_KEY])


# -- scans -----------------------------------------------------------------------


def test_scans_run_then_finish_and_the_last_one_is_found(store: Store) -> None:
    assert store.last_scan() is None
    first = store.start_scan(now=T0)
    second = store.start_scan(now=T0 + timedelta(minutes=1))

    running = store.scan(second)
    store.finish_scan(
        first, status="succeeded", clusters=2, findings=3, now=T0 + timedelta(minutes=2)
    )

    assert second > first
    assert running is not None
    assert (running.status, running.finished_at) == ("running", None)
    last, last_finished = store.last_scan(), store.last_scan(finished=True)
    assert last is not None
    assert last_finished is not None
    assert last.id == second
    assert (last_finished.id, last_finished.status, last_finished.clusters) == (
        first,
        "succeeded",
        2,
    )
    assert last_finished.findings == 3
    assert last_finished.finished_at == T0 + timedelta(minutes=2)
    assert store.scan(second + 100) is None


def test_finish_scan_records_the_error(store: Store) -> None:
    scan_id = store.start_scan()
    store.finish_scan(scan_id, status="failed", clusters=0, findings=0, error="broker down")

    record = store.scan(scan_id)

    assert record is not None
    assert (record.status, record.error) == ("failed", "broker down")
    assert record.finished_at is not None


def test_only_scans_running_since_before_the_cutoff_are_failed(store: Store) -> None:
    old = store.start_scan(now=T0)
    old_finished = store.start_scan(now=T0)
    store.finish_scan(old_finished, status="succeeded", clusters=1, findings=0, now=T0)
    recent = store.start_scan(now=T0 + timedelta(minutes=5))

    failed = store.fail_unfinished_scans(
        started_before=T0 + timedelta(minutes=1), error="tasks lost", now=T0 + timedelta(minutes=6)
    )

    assert failed == [old]
    assert [record.id for record in store.running_scans()] == [recent]
    records = {scan_id: store.scan(scan_id) for scan_id in (old, old_finished)}
    assert {k: (r.status, r.error) for k, r in records.items() if r} == {
        old: ("failed", "tasks lost"),
        old_finished: ("succeeded", ""),
    }


def test_a_scan_failed_at_its_deadline_stays_failed_when_a_late_task_finishes_it(
    store: Store,
) -> None:
    scan_id = store.start_scan(now=T0)
    store.fail_unfinished_scans(
        started_before=T0 + timedelta(minutes=1), error="tasks lost", now=T0 + timedelta(minutes=2)
    )

    recorded = store.finish_scan(
        scan_id, status="succeeded", clusters=4, findings=7, now=T0 + timedelta(minutes=3)
    )

    record = store.scan(scan_id)
    assert record is not None
    assert recorded is False
    assert (record.status, record.error, record.clusters, record.findings) == (
        "failed",
        "tasks lost",
        0,
        0,
    )
    assert record.finished_at == T0 + timedelta(minutes=2)


def test_a_finished_scan_keeps_its_first_verdict(store: Store) -> None:
    scan_id = store.start_scan(now=T0)
    first = store.finish_scan(scan_id, status="succeeded", clusters=2, findings=1, now=T0)

    second = store.finish_scan(scan_id, status="failed", clusters=0, findings=0, error="late")

    record = store.scan(scan_id)
    assert record is not None
    assert (first, second) == (True, False)
    assert (record.status, record.clusters, record.error) == ("succeeded", 2, "")


def test_finishing_an_unknown_scan_fails(store: Store) -> None:
    with pytest.raises(UnknownScan):
        store.finish_scan(42, status="succeeded", clusters=0, findings=0)


# -- findings --------------------------------------------------------------------


@pytest.fixture
def known_clusters(store: Store) -> None:
    store.commit_report(make_report("r-1"), agent_id="a", received_at=T0)
    store.commit_report(make_report("o-1", cluster_id=OTHER_ID), agent_id="b", received_at=T0)


def open_by_resource(store: Store, cluster_key: str | None = None) -> dict[str, StoredFinding]:
    return {stored.finding.resource: stored for stored in store.open_findings(cluster_key)}


@pytest.mark.usefixtures("known_clusters")
def test_recorded_findings_are_open_with_their_fingerprint(store: Store) -> None:
    scan_id = store.start_scan(now=T0)
    store.record_findings(scan_id, CLUSTER_KEY, [make_finding("IP001", "subnet/a")], now=T0)

    [stored] = store.open_findings()

    assert stored.fingerprint == fingerprint("IP001", CLUSTER_KEY, "subnet/a")
    expected = make_finding("IP001", "subnet/a")
    expected.cluster_key = CLUSTER_KEY
    assert stored.finding == expected
    assert (stored.first_seen, stored.last_seen, stored.resolved_at) == (T0, T0, None)
    assert stored.last_scan_id == scan_id


@pytest.mark.usefixtures("known_clusters")
def test_a_finding_seen_again_keeps_first_seen_and_takes_the_new_details(store: Store) -> None:
    later = T0 + timedelta(hours=1)
    store.record_findings(store.start_scan(), CLUSTER_KEY, [make_finding("IP001", "s")], now=T0)
    updated = make_finding(
        "IP001", "s", severity=audit_pb2.SEVERITY_HIGH, message="worse", evidence={"used": "99"}
    )
    second_scan = store.start_scan()

    store.record_findings(second_scan, CLUSTER_KEY, [updated], now=later)

    [stored] = store.open_findings()
    assert (stored.first_seen, stored.last_seen, stored.last_scan_id) == (T0, later, second_scan)
    assert stored.finding.severity == audit_pb2.SEVERITY_HIGH
    assert (stored.finding.message, dict(stored.finding.evidence)) == ("worse", {"used": "99"})


@pytest.mark.usefixtures("known_clusters")
def test_findings_absent_from_an_evaluation_are_resolved_and_reopen_later(store: Store) -> None:
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    both = [make_finding("IP001", "a"), make_finding("IP001", "b")]
    store.record_findings(store.start_scan(), CLUSTER_KEY, both, now=T0)
    store.record_findings(store.start_scan(), OTHER_KEY, [make_finding("IP001", "x")], now=T0)

    store.record_findings(store.start_scan(), CLUSTER_KEY, [make_finding("IP001", "a")], now=t1)

    assert set(open_by_resource(store, CLUSTER_KEY)) == {"a"}
    assert set(open_by_resource(store, OTHER_KEY)) == {"x"}, "other clusters are untouched"
    resolved = {f.finding.resource: f for f in store.all_findings(CLUSTER_KEY)}["b"]
    assert resolved.resolved_at == t1

    store.record_findings(store.start_scan(), CLUSTER_KEY, both, now=t2)

    reopened = {f.finding.resource: f for f in store.open_findings(CLUSTER_KEY)}["b"]
    assert (reopened.first_seen, reopened.last_seen, reopened.resolved_at) == (T0, t2, None)


@pytest.mark.usefixtures("known_clusters")
def test_an_empty_evaluation_resolves_every_open_finding_of_the_cluster(store: Store) -> None:
    store.record_findings(store.start_scan(), CLUSTER_KEY, [make_finding("R", "a")], now=T0)

    store.record_findings(store.start_scan(), CLUSTER_KEY, [], now=T0 + timedelta(1))

    assert store.open_findings() == []
    [resolved] = store.all_findings()
    assert resolved.resolved_at == T0 + timedelta(1)


@pytest.mark.usefixtures("known_clusters")
def test_recording_the_same_findings_twice_changes_only_last_seen(store: Store) -> None:
    scan_id = store.start_scan()
    verdicts = [make_finding("IP001", "a"), make_finding("DNS002", "zone")]
    store.record_findings(scan_id, CLUSTER_KEY, verdicts, now=T0)
    before = store.all_findings()

    store.record_findings(scan_id, CLUSTER_KEY, verdicts, now=T0)
    unchanged = store.all_findings()
    store.record_findings(scan_id, CLUSTER_KEY, verdicts, now=T0 + timedelta(1))
    after = store.all_findings()

    assert unchanged == before
    assert [replace_last_seen(f) for f in after] == [replace_last_seen(f) for f in before]
    assert {f.last_seen for f in after} == {T0 + timedelta(1)}


def replace_last_seen(stored: StoredFinding) -> StoredFinding:
    return replace(stored, last_seen=T0)


@pytest.mark.usefixtures("known_clusters")
def test_open_findings_are_most_severe_first_and_counted_by_rule_and_severity(
    store: Store,
) -> None:
    high, low = audit_pb2.SEVERITY_HIGH, audit_pb2.SEVERITY_LOW
    store.record_findings(
        store.start_scan(),
        CLUSTER_KEY,
        [make_finding("R1", "a", severity=low), make_finding("R2", "b", severity=high)],
        now=T0,
    )
    store.record_findings(
        store.start_scan(), OTHER_KEY, [make_finding("R1", "c", severity=low)], now=T0
    )

    ordered = [stored.finding.rule_id for stored in store.open_findings()]

    assert ordered == ["R2", "R1", "R1"]
    assert store.open_finding_counts() == {("R1", low): 2, ("R2", high): 1}
    assert set(open_by_resource(store, OTHER_ID)) == {"c"}


@pytest.mark.usefixtures("known_clusters")
def test_findings_of_an_unknown_cluster_or_scan_are_refused(store: Store) -> None:
    scan_id = store.start_scan()
    unknown = OTHER_KEY.replace("other", "nobody")
    with pytest.raises(UnknownCluster, match="unknown to the store"):
        store.record_findings(scan_id, unknown, [make_finding("R", "a")], now=T0)
    with pytest.raises(UnknownScan):
        store.record_findings(scan_id + 1, CLUSTER_KEY, [make_finding("R", "a")], now=T0)


@pytest.mark.usefixtures("known_clusters")
def test_a_finding_of_another_cluster_is_refused(store: Store) -> None:
    stray = make_finding("R", "a")
    stray.cluster_key = OTHER_KEY

    with pytest.raises(InvalidFinding, match="record it with its own cluster"):
        store.record_findings(store.start_scan(), CLUSTER_KEY, [stray], now=T0)
    assert store.open_findings() == []
