"""Store URLs a user can get wrong are refused in one line that says what to use."""

from __future__ import annotations

import pytest

from netaudit.collector.store import Store, StoreError


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root@127.0.0.1/netaudit", "runs on SQLite or PostgreSQL, not mysql"),
        ("sqlite://", "in-memory SQLite database"),
        ("sqlite:///:memory:", "in-memory SQLite database"),
    ],
)
def test_an_unusable_store_url_is_refused_with_what_to_use(url: str, says: str) -> None:
    with pytest.raises(StoreError, match=says) as raised:
        Store(url)

    assert "\n" not in str(raised.value)
    assert "sqlite:///" in str(raised.value)
