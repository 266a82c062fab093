"""Several processes write one store at once, as the gRPC server and Celery workers do.

Each writer process (multiprocessing, spawn) commits reports for its own cluster and for
one cluster they all share, and records findings for its own cluster, all released
together by a barrier. Nothing may fail with "database is locked" and no row may be lost.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from netaudit.collector.store import CommitOutcome, Store, current_revision, head_revision, upgrade
from netaudit.v1 import audit_pb2, report_pb2
from tests.integration.store_databases import DATABASE_KINDS, new_database

WRITERS = 4
ROUNDS = 25
SHARED_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/"
    "Microsoft.ContainerService/managedClusters/shared"
)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def own_cluster_id(writer: int) -> str:
    return SHARED_ID.replace("/shared", f"/cluster-{writer}")


def report(report_id: str, cluster_id: str, sequence: int) -> report_pb2.Report:
    message = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=sequence)
    message.cluster.arm_resource_id = cluster_id
    message.cluster.name = cluster_id.rsplit("/", 1)[1]
    return message


def findings_of_round(round_: int) -> list[audit_pb2.Finding]:
    """Round r: resources r and r+1, so every round resolves one and opens one."""
    return [
        audit_pb2.Finding(rule_id="IP001", resource=f"subnet/{r}", severity=audit_pb2.SEVERITY_LOW)
        for r in (round_, round_ + 1)
    ]


def write(url: str, writer: int, barrier: Barrier) -> None:
    """One writer process: the whole sequence, each call its own short transaction."""
    store = Store(url, report_retention=ROUNDS * WRITERS)
    try:
        barrier.wait(timeout=60)
        for round_ in range(ROUNDS):
            now = T0 + timedelta(seconds=round_)
            own = report(f"w{writer}-r{round_}", own_cluster_id(writer), round_)
            shared = report(f"shared-w{writer}-r{round_}", SHARED_ID, writer * ROUNDS + round_)
            assert store.commit_report(own, agent_id=f"a{writer}", received_at=now) == (
                CommitOutcome.COMMITTED
            )
            store.commit_report(shared, agent_id=f"a{writer}", received_at=now)
            store.commit_report(own, agent_id=f"a{writer}", received_at=now)  # a resend
            scan_id = store.start_scan(now=now)
            store.record_findings(
                scan_id, own_cluster_id(writer), findings_of_round(round_), now=now
            )
            store.finish_scan(scan_id, status="succeeded", clusters=1, findings=2, now=now)
    except BaseException:
        # the parent sees the exit code; the traceback goes to the captured stderr
        traceback.print_exc()
        raise
    finally:
        store.close()


def join_all(processes: Sequence[BaseProcess], barrier: Barrier, timeout: float) -> None:
    """Wait for every process; one that dies early releases the others from the barrier."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.exitcode is None for p in processes):
        if any(p.exitcode not in (None, 0) for p in processes):
            barrier.abort()
        time.sleep(0.05)
    for process in processes:
        if process.exitcode is None:
            process.kill()
            process.join()


def test_concurrent_writer_processes_lose_nothing_and_never_see_a_lock(store_url: str) -> None:
    url = store_url
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    writers = [
        context.Process(target=write, args=(url, writer, barrier), name=f"writer-{writer}")
        for writer in range(WRITERS)
    ]
    for process in writers:
        process.start()
    join_all(writers, barrier, timeout=120)

    assert [process.exitcode for process in writers] == [0] * WRITERS
    with Store(url) as store:
        for writer in range(WRITERS):
            key = own_cluster_id(writer).lower()
            assert store.report_count(key) == ROUNDS
            open_resources = {f.finding.resource for f in store.open_findings(key)}
            assert open_resources == {f"subnet/{ROUNDS - 1}", f"subnet/{ROUNDS}"}
            assert len(store.all_findings(key)) == ROUNDS + 1
        assert store.report_count(SHARED_ID) == WRITERS * ROUNDS
        latest_shared = store.latest_report(SHARED_ID)
        assert latest_shared is not None
        # committed last: each writer commits its rounds in order, so some writer's last one
        last_rounds = {f"shared-w{writer}-r{ROUNDS - 1}" for writer in range(WRITERS)}
        assert latest_shared.report.report_id in last_rounds
        last = store.last_scan()
        assert last is not None
        assert last.id == WRITERS * ROUNDS
        assert len(store.cluster_keys()) == WRITERS + 1


def migrate(url: str, barrier: Barrier) -> None:
    barrier.wait(timeout=60)
    upgrade(url)


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_processes_that_all_upgrade_a_new_database_at_once_all_succeed(
    kind: str, tmp_path: Path
) -> None:
    with new_database(kind, tmp_path) as url:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(WRITERS)
        migrators = [
            context.Process(target=migrate, args=(url, barrier), name=f"migrator-{n}")
            for n in range(WRITERS)
        ]
        for process in migrators:
            process.start()
        join_all(migrators, barrier, timeout=120)

        assert [process.exitcode for process in migrators] == [0] * WRITERS
        assert current_revision(url) == head_revision()
