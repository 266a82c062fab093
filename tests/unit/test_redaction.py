"""URLs as they may be shown: passwords and secret query values masked, the rest intact."""

from __future__ import annotations

import pytest

from netaudit.collector.redaction import mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:****@127.0.0.1:5672//"),
        ("redis://:s3cret@cache:6379/0", "redis://:****@cache:6379/0"),
        ("rediss://user:p%40ss@cache.example:6380/1", "rediss://user:****@cache.example:6380/1"),
        (
            "postgresql+psycopg://netaudit:pw@db.example:5432/netaudit",
            "postgresql+psycopg://netaudit:****@db.example:5432/netaudit",
        ),
        (
            "postgresql+psycopg://db.example/netaudit?user=n&password=pw&sslmode=require",
            "postgresql+psycopg://db.example/netaudit?user=n&password=****&sslmode=require",
        ),
        ("postgresql+psycopg://netaudit@db.example/netaudit", None),
        ("redis+socket:///var/lib/netaudit/broker/redis.sock", None),
        ("sqlite:////var/lib/netaudit/netaudit.db", None),
        ("", None),
    ],
)
def test_a_url_is_shown_without_its_secrets(url: str, shown: str | None) -> None:
    assert mask_url(url) == (url if shown is None else shown)
