"""Report requests in the store (SQLite and PostgreSQL): a committed report carrying a
request id answers it for its cluster, once; admin tokens are not agent tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from netaudit.collector.store import Store
from netaudit.v1 import report_pb2

CLUSTER_A = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-a/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)
CLUSTER_B = CLUSTER_A.replace("aks-a", "aks-b")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def report(report_id: str, cluster_id: str, sequence: int, *answers: str) -> report_pb2.Report:
    message = report_pb2.Report(
        report_id=report_id,
        cluster=report_pb2.ClusterIdentity(arm_resource_id=cluster_id, name="n", region="r"),
        agent_epoch=1,
        sequence=sequence,
        answers_request_ids=list(answers),
    )
    message.gathered_at.FromDatetime(NOW)
    return message


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened


def test_the_first_committed_answer_of_each_cluster_is_kept(store: Store) -> None:
    store.record_report_requests("q1", [CLUSTER_A, CLUSTER_B])
    assert store.report_request_progress("q1") == {CLUSTER_A.lower(): None, CLUSTER_B.lower(): None}
    store.commit_report(report("a-1", CLUSTER_A, 1, "q1"), agent_id="a", received_at=NOW)
    store.commit_report(report("a-1", CLUSTER_A, 1, "q1"), agent_id="a", received_at=NOW)
    store.commit_report(report("a-2", CLUSTER_A, 2, "q1"), agent_id="a", received_at=NOW)
    store.commit_report(report("b-1", CLUSTER_B, 1), agent_id="b", received_at=NOW)
    assert store.report_request_progress("q1") == {
        CLUSTER_A.lower(): "a-1",
        CLUSTER_B.lower(): None,
    }


def test_an_answer_counts_only_where_the_request_was_sent(store: Store) -> None:
    store.record_report_requests("q1", [CLUSTER_A])
    store.record_report_requests("q1", [CLUSTER_A])  # another replica's redelivery
    store.commit_report(report("b-1", CLUSTER_B, 1, "q1"), agent_id="b", received_at=NOW)
    store.commit_report(report("a-1", CLUSTER_A, 1, "q2", "q1"), agent_id="a", received_at=NOW)
    assert store.report_request_progress("q1") == {CLUSTER_A.lower(): "a-1"}
    assert store.report_request_progress("q2") == {}


def test_admin_tokens_and_agent_tokens_never_pass_for_each_other(store: Store) -> None:
    admin = store.create_admin_token("ops")
    agent = store.create_agent_token(CLUSTER_A)
    assert admin.token.startswith("nat_admin_")
    assert store.active_admin_token(admin.token) == admin.record
    assert store.active_agent_token(admin.token) is None
    assert store.active_admin_token(agent.token) is None
    revoked = store.revoke_admin_token(admin.record.id)
    assert revoked is not None and not revoked.active
    assert store.active_admin_token(admin.token) is None
    assert store.revoke_admin_token("nope") is None
    assert [token.name for token in store.admin_tokens()] == ["ops"]
