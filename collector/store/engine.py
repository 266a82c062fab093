"""Engines for the store's two databases: a SQLite file by default, PostgreSQL at scale.

The gRPC server and several Celery worker processes write one SQLite file at once.
Three settings make that safe: WAL (readers never block the writer), a busy timeout
(a writer waits for the lock instead of failing), and `BEGIN IMMEDIATE` for every
write transaction. The last one matters most: a deferred transaction that reads and
then writes cannot wait for the lock when another process committed in between;
SQLite fails it at once with "database is locked", whatever the busy timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url

from netaudit.collector.store.errors import SchemaNotCurrent, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_SECONDS = 30.0
POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10
_WRITE_OPTION = "netaudit_write"
_MISSING_TABLE_SQLSTATE = "42P01"


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except exc.ArgumentError as error:
        raise StoreError(
            f"store URL {url!r} is not a database URL; use sqlite:////abs/path.db "
            "or postgresql+psycopg://user@host/db"
        ) from error


def display_url(url: URL) -> str:
    """The URL as it may appear in logs and messages: without its password."""
    return url.render_as_string(hide_password=True)


def create_engine(url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS) -> Engine:
    """An engine for `url`; `busy_timeout` (seconds) is how long a SQLite writer waits."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout)
    if backend != "postgresql":
        raise StoreError(
            f"the store runs on SQLite or PostgreSQL, not {backend}: use a sqlite:/// or "
            "postgresql+psycopg:// URL"
        )
    connect_args: dict[str, Any] = {}
    if parsed.get_driver_name() == "psycopg" and "connect_timeout" not in parsed.query:
        # a server that drops packets would otherwise hang the first query forever
        connect_args["connect_timeout"] = POSTGRESQL_CONNECT_TIMEOUT_SECONDS
    try:
        # pre-ping: a pooled connection can outlive a PostgreSQL restart or failover
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise StoreError(
            f"store URL {display_url(parsed)} names a driver that is not installed ({error}); "
            "use postgresql+psycopg://"
        ) from error


def writer(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions take the write lock up front."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file::memory:"):
        raise StoreError(
            f"store URL {display_url(url)} is an in-memory SQLite database, which every "
            "process would see empty; use a file: sqlite:////abs/path/netaudit.db"
        )
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout})
    busy_timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); sqlite3's own transaction handling
        # would defer it past the first SELECT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            # synchronous stays FULL (the default): ingest acks a report once it is
            # committed, so a commit must survive a power loss, not just a crash.
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for any other database)."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


@contextmanager
def translated_errors(url: URL) -> Iterator[None]:
    """Turn the driver's errors into store errors that say what to fix."""
    try:
        yield
    except exc.DBAPIError as error:
        raise translate(error, url) from error


def translate(error: exc.DBAPIError, url: URL) -> StoreError:
    where = display_url(url)
    detail = _first_line(error.orig)
    if _is_missing_table(error):
        return SchemaNotCurrent(
            f"database {where} has no netaudit schema ({detail}); run `netaudit db upgrade`"
        )
    if isinstance(error, exc.OperationalError | exc.InterfaceError) or (
        error.connection_invalidated
    ):
        return StoreUnavailable(
            f"database {where} is unavailable: {detail}; check that it is running, "
            "reachable and has disk space (for SQLite: that the folder is writable and no "
            "process holds the lock longer than the busy timeout)"
        )
    return StoreError(f"database {where} refused the operation: {detail}")


def _is_missing_table(error: exc.DBAPIError) -> bool:
    if getattr(error.orig, "sqlstate", None) == _MISSING_TABLE_SQLSTATE:
        return True
    return "no such table" in str(error.orig)


def _first_line(orig: BaseException | None) -> str:
    text = str(orig).strip() if orig is not None else ""
    return text.splitlines()[0] if text else type(orig).__name__


def upsert(connection: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"the store runs on SQLite or PostgreSQL, not {connection.dialect.name}")
