"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.collector.store import upgrade
from tests.integration.store_databases import DATABASE_KINDS, empty_tables, throwaway_postgresql


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; store_url empties it per test."""
    with throwaway_postgresql() as url:
        upgrade(url)
        yield url


@pytest.fixture(params=DATABASE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store: a SQLite file, then the session's PostgreSQL database."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite:///{tmp_path / 'netaudit.db'}"
        upgrade(sqlite_url)
        return sqlite_url
    postgres: str = request.getfixturevalue("postgresql_url")
    empty_tables(postgres)
    return postgres
