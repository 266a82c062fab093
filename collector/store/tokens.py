"""Agent tokens: per-cluster bearer tokens, kept only as sha256 hashes.

A token is 256 random bits, so a plain sha256 is enough to store it safely (a slow
password hash protects guessable secrets; nothing here is guessable) and lets a
stream's token be found by an indexed equality lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.errors import UnknownToken
from netaudit.collector.store.records import AgentToken, IssuedToken
from netaudit.collector.store.tables import agent_tokens

TOKEN_PREFIX = "nat_"
"""Marks netaudit agent tokens, so secret scanners and people can tell them apart."""
TOKEN_RANDOM_BYTES = 32
ID_HEX_CHARS = 12
"""48 bits: ids of a fleet's tokens stay unique; short enough to read out."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(connection: Connection, cluster_key: str, *, now: datetime) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    record = AgentToken(
        id=secrets.token_hex(ID_HEX_CHARS // 2),
        cluster_key=cluster_key,
        created_at=now,
        revoked_at=None,
    )
    connection.execute(
        sa.insert(agent_tokens).values(
            id=record.id,
            cluster_key=record.cluster_key,
            token_sha256=token_hash(token),
            created_at=record.created_at,
            revoked_at=None,
        )
    )
    return IssuedToken(record, token)


def list_tokens(connection: Connection, cluster_key: str | None) -> list[AgentToken]:
    query = sa.select(agent_tokens).order_by(agent_tokens.c.cluster_key, agent_tokens.c.created_at)
    if cluster_key is not None:
        query = query.where(agent_tokens.c.cluster_key == cluster_key)
    return [_record(row) for row in connection.execute(query)]


def revoke_token(connection: Connection, token_id: str, *, now: datetime) -> AgentToken:
    """Revoke by id; revoking again keeps the first revocation time."""
    connection.execute(
        sa.update(agent_tokens)
        .where(agent_tokens.c.id == token_id, agent_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    row = connection.execute(sa.select(agent_tokens).where(agent_tokens.c.id == token_id)).first()
    if row is None:
        raise UnknownToken(f"no agent token has id {token_id!r}; `netaudit tokens list` shows them")
    return _record(row)


def active_token(connection: Connection, token: str) -> AgentToken | None:
    """The unrevoked token with this value, or None."""
    row = connection.execute(
        sa.select(agent_tokens).where(
            agent_tokens.c.token_sha256 == token_hash(token),
            agent_tokens.c.revoked_at.is_(None),
        )
    ).first()
    return None if row is None else _record(row)


def _record(row: sa.Row[Any]) -> AgentToken:
    return AgentToken(
        id=row.id,
        cluster_key=row.cluster_key,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
