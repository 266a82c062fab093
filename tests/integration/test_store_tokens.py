"""Agent tokens in the store, on SQLite and PostgreSQL: hashed, per cluster, revocable."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from netaudit.collector.store import Store, UnknownToken

CLUSTER = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/RG-A/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)
OTHER = CLUSTER.replace("aks-a", "aks-b")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_token_is_found_by_its_value_and_names_its_cluster_lower_cased(store_url: str) -> None:
    with Store(store_url) as store:
        issued = store.create_agent_token(CLUSTER)
        store.create_agent_token(OTHER)
        found = store.active_agent_token(issued.token)
    assert found == issued.record
    assert found is not None and found.cluster_key == CLUSTER.lower()
    assert issued.token.startswith("nat_") and len(issued.token) > 40
    assert issued.token not in repr(issued)


def test_only_the_sha256_of_a_token_is_kept(store_url: str) -> None:
    with Store(store_url) as store:
        issued = store.create_agent_token(CLUSTER)
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(sa.text("SELECT * FROM agent_tokens"))]
    finally:
        engine.dispose()
    assert len(rows) == 1
    assert hashlib.sha256(issued.token.encode()).hexdigest() in rows[0]
    assert not any(issued.token in str(value) for value in rows[0])


def test_a_revoked_token_is_no_longer_active_and_keeps_its_first_revocation(
    store_url: str,
) -> None:
    clock = Clock()
    with Store(store_url, clock=clock) as store:
        issued = store.create_agent_token(CLUSTER)
        kept = store.create_agent_token(CLUSTER)
        clock.now = T0 + timedelta(hours=1)
        revoked = store.revoke_agent_token(issued.record.id)
        clock.now = T0 + timedelta(hours=2)
        again = store.revoke_agent_token(issued.record.id)
        assert store.active_agent_token(issued.token) is None
        assert store.active_agent_token(kept.token) == kept.record
        listed = store.agent_tokens(CLUSTER.upper())
    assert revoked.revoked_at == again.revoked_at == T0 + timedelta(hours=1)
    assert [(t.id, t.active) for t in listed] == [(issued.record.id, False), (kept.record.id, True)]


def test_tokens_list_per_cluster_or_all(store_url: str) -> None:
    with Store(store_url) as store:
        a = store.create_agent_token(CLUSTER).record
        b = store.create_agent_token(OTHER).record
        assert store.agent_tokens(CLUSTER) == [a]
        assert store.agent_tokens() == [a, b]


def test_revoking_an_unknown_id_names_the_command_that_lists_them(store_url: str) -> None:
    with Store(store_url) as store, pytest.raises(UnknownToken, match="netaudit tokens list"):
        store.revoke_agent_token("0123456789ab")
