"""Alembic, run from code: the migrations ship inside the package, no alembic.ini at run time."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from netaudit.collector.store.engine import (
    create_engine,
    display_url,
    parse_url,
    sqlite_file,
    translated_errors,
    writer,
)
from netaudit.collector.store.errors import SchemaNotCurrent, StoreNotCreated

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    # ConfigParser interpolates "%": escape it in the path
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a first revision
        raise SchemaNotCurrent(f"no migrations found in {MIGRATIONS}; reinstall netaudit")
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Create the database (a SQLite file and its folder) if needed and migrate it."""
    parsed = parse_url(url)
    database_file = sqlite_file(parsed)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    config = alembic_config()
    try:
        with translated_errors(parsed), writer(engine).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except CommandError as error:
        raise SchemaNotCurrent(
            f"cannot migrate {display_url(parsed)}: {error}; is the database newer "
            "than this netaudit? upgrade netaudit"
        ) from error
    finally:
        engine.dispose()
    log.info("store %s migrated to %s", display_url(parsed), revision)


def current_revision(url: str) -> str | None:
    """The database's Alembic revision; None before the first `upgrade`."""
    parsed = parse_url(url)
    database_file = sqlite_file(parsed)
    if database_file is not None and not database_file.exists():
        return None  # asking must not create the file
    engine = create_engine(url)
    try:
        with translated_errors(parsed), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    """Fail with what to run unless the database is at the head revision."""
    require_existing_file(url)
    current = current_revision(url)
    head = head_revision()
    if current != head:
        found = "no netaudit schema" if current is None else f"revision {current}"
        raise SchemaNotCurrent(
            f"database {display_url(parse_url(url))} has {found}, this netaudit needs "
            f"{head}; run `netaudit db upgrade`"
        )


def require_existing_file(url: str) -> None:
    """StoreNotCreated, saying how to create it, when a SQLite URL names a file (or a folder)
    that does not exist: opening it would create an empty database as a side effect."""
    database_file = sqlite_file(parse_url(url))
    if database_file is None or database_file.exists():
        return
    folder = database_file.parent
    missing = (
        f"the state folder {folder} does not exist"
        if not folder.exists()
        else f"there is no store in {folder} ({database_file.name} does not exist)"
    )
    raise StoreNotCreated(
        f"{missing}: create it with `netaudit db upgrade --state-dir {folder}` (or start "
        "`netaudit serve`, which does), or point --state-dir or store.url at an existing one"
    )
