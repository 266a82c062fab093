"""Who may call the AdminService: an operator with an admin credential, never an agent.

An admin credential is either

- an **admin bearer token** (``authorization: Bearer <token>``) made by ``netaudit tokens
  create --admin NAME``, kept in the store's admin_tokens table (its sha256 only); or
- a **client certificate** the ingest CA signed whose URI SAN is ``netaudit:admin``
  (``netaudit certs issue --admin NAME``). Mutual TLS requires a certificate of every
  caller, so with ``ingest.tls_client_ca_file`` set the admin presents that one.

An agent's credential (a cluster token, a certificate naming a cluster) is valid but not
an admin's: PERMISSION_DENIED. No credential, or an unknown or revoked token:
UNAUTHENTICATED. Everything here is pure except ``AdminAuthenticator.identify``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from netaudit.collector.ingest.auth import (
    PEER_URI_PROPERTY,
    CredentialCheckFailed,
    PermissionDenied,
    TokenVerifier,
    Unauthenticated,
    bearer_token,
    certificate_clusters,
)

log = logging.getLogger(__name__)

ADMIN_URI = "netaudit:admin"
"""The URI SAN that makes a client certificate an admin's."""


class AdminTokenRecord(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class AdminTokenVerifier(TokenVerifier, Protocol):
    """What admin authentication needs from the store: both kinds of token."""

    def active_admin_token(self, token: str) -> AdminTokenRecord | None: ...


def certificate_is_admin(auth_context: Mapping[str, Iterable[bytes]]) -> bool:
    uris = (uri.decode(errors="replace").strip() for uri in auth_context.get(PEER_URI_PROPERTY, ()))
    return ADMIN_URI in set(uris)


def decide_admin(
    *,
    admin_certificate: bool,
    certificate_clusters: set[str],
    token_sent: bool,
    admin_token: AdminTokenRecord | None,
    agent_token: bool,
) -> str:
    """Who the admin is (for logs), or Unauthenticated / PermissionDenied."""
    if admin_token is not None:
        return f"admin token {admin_token.id} ({admin_token.name})"
    if admin_certificate:
        if token_sent and not agent_token:
            raise Unauthenticated("the bearer token is unknown or revoked")
        return "admin client certificate"
    if agent_token:
        raise PermissionDenied(
            "an agent's cluster token cannot call the admin service; use an admin token "
            "(`netaudit tokens create --admin NAME`)"
        )
    if token_sent:
        raise Unauthenticated("the bearer token is unknown or revoked")
    if certificate_clusters:
        raise PermissionDenied(
            "a cluster's client certificate cannot call the admin service; use one with the "
            f"URI SAN {ADMIN_URI} (`netaudit certs issue --admin NAME`) or an admin token"
        )
    raise Unauthenticated(
        "the admin service needs an admin credential: `authorization: Bearer <token>` "
        "(`netaudit tokens create --admin NAME`) or an admin client certificate"
    )


class AdminAuthenticator:
    """Checks admin credentials against the store; insecure admits every caller."""

    def __init__(self, tokens: AdminTokenVerifier | None, *, insecure: bool = False) -> None:
        if tokens is None and not insecure:
            raise ValueError("an admin authenticator needs the store unless it is insecure")
        self._tokens = tokens
        self._insecure = insecure

    async def identify(
        self,
        metadata: Iterable[tuple[str, str | bytes]],
        auth_context: Mapping[str, Iterable[bytes]],
    ) -> str:
        if self._insecure or self._tokens is None:
            return "anyone (insecure)"
        token = bearer_token(metadata)
        admin_token = None
        agent_token = False
        if token is not None:
            admin_token, agent_token = await self._verify(self._tokens, token)
        return decide_admin(
            admin_certificate=certificate_is_admin(auth_context),
            certificate_clusters=certificate_clusters(auth_context),
            token_sent=token is not None,
            admin_token=admin_token,
            agent_token=agent_token,
        )

    @staticmethod
    async def _verify(
        tokens: AdminTokenVerifier, token: str
    ) -> tuple[AdminTokenRecord | None, bool]:
        loop = asyncio.get_running_loop()

        def check() -> tuple[AdminTokenRecord | None, bool]:
            admin = tokens.active_admin_token(token)
            return admin, admin is None and tokens.active_agent_token(token) is not None

        try:
            return await loop.run_in_executor(None, check)
        except Exception as error:
            log.warning("admin token not checked", extra={"error": str(error)})
            raise CredentialCheckFailed(
                "the collector cannot check tokens now (its store is unavailable); retry"
            ) from error
