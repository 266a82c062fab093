"""Admin tokens: bearer tokens of operators calling the AdminService, kept as sha256.

Made like agent tokens (tokens.py) but in a table of their own, so an agent's token
never opens the admin service and an admin token never writes reports.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.records import AdminToken, IssuedAdminToken
from netaudit.collector.store.tables import admin_tokens
from netaudit.collector.store.tokens import ID_HEX_CHARS, TOKEN_RANDOM_BYTES, token_hash

ADMIN_TOKEN_PREFIX = "nat_admin_"
"""Tells an admin token from an agent token (`nat_`) at a glance."""


def create_token(connection: Connection, name: str, *, now: datetime) -> IssuedAdminToken:
    token = ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    record = AdminToken(
        id=secrets.token_hex(ID_HEX_CHARS // 2), name=name, created_at=now, revoked_at=None
    )
    connection.execute(
        sa.insert(admin_tokens).values(
            id=record.id,
            name=record.name,
            token_sha256=token_hash(token),
            created_at=record.created_at,
            revoked_at=None,
        )
    )
    return IssuedAdminToken(record, token)


def list_tokens(connection: Connection) -> list[AdminToken]:
    query = sa.select(admin_tokens).order_by(admin_tokens.c.name, admin_tokens.c.created_at)
    return [_record(row) for row in connection.execute(query)]


def revoke_token(connection: Connection, token_id: str, *, now: datetime) -> AdminToken | None:
    """Revoke by id (the first revocation time is kept); None when no admin token has it."""
    connection.execute(
        sa.update(admin_tokens)
        .where(admin_tokens.c.id == token_id, admin_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    row = connection.execute(sa.select(admin_tokens).where(admin_tokens.c.id == token_id)).first()
    return None if row is None else _record(row)


def active_token(connection: Connection, token: str) -> AdminToken | None:
    row = connection.execute(
        sa.select(admin_tokens).where(
            admin_tokens.c.token_sha256 == token_hash(token),
            admin_tokens.c.revoked_at.is_(None),
        )
    ).first()
    return None if row is None else _record(row)


def _record(row: sa.Row[Any]) -> AdminToken:
    return AdminToken(
        id=row.id, name=row.name, created_at=row.created_at, revoked_at=row.revoked_at
    )
