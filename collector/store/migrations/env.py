"""Alembic environment: run from netaudit.collector.store.schema, or by the alembic CLI.

From code, the caller passes an open connection in `config.attributes["connection"]`
(built by the store's engine factory: WAL, busy timeout, write lock up front).
From the CLI (`alembic -x url=... revision --autogenerate -m ...` with a throwaway
ini naming this folder), the URL comes from `-x url=` or `sqlalchemy.url`.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from netaudit.collector.store.engine import create_engine, writer
from netaudit.collector.store.tables import UtcDateTime, metadata

# Any constant works; it only has to be the same in every process that migrates.
_MIGRATION_LOCK_ID = 0x6E657461  # "neta"


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the store's own column types as plain SQLAlchemy ones in new revisions."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )


def _migrate(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # serve and every worker may run `upgrade` at start: one migrates, the
            # others wait and then find nothing left to do
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database: alembic -x url=sqlite:////abs/path.db ...")
    return url


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=metadata,
        literal_binds=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    engine = create_engine(_url())
    try:
        with writer(engine).connect() as connection:
            _migrate(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
