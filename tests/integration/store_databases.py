"""Databases for the store tests: SQLite files and throwaway PostgreSQL databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from netaudit.collector.store.tables import metadata
from tests.conftest import require

POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DATABASE_KINDS = ("sqlite", "postgresql")


@contextmanager
def throwaway_postgresql() -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1 (trust auth), dropped afterwards."""
    require("postgresql")
    name = f"netaudit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def new_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a database without any schema yet: a new SQLite file or PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'new.db'}"
        return
    with throwaway_postgresql() as url:
        yield url


def empty_tables(url: str) -> None:
    """Delete every row and restart the ids: each test starts from empty tables."""
    names = ", ".join(table.name for table in metadata.sorted_tables)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
