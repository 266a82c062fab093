"""Who is at the other end of an ingest stream, and which cluster it may write for.

An agent proves its cluster with one of two credentials:

- a **client certificate** (mutual TLS, ``ingest.tls_client_ca_file``) whose URI SAN
  names the cluster's ARM resource id. The URI's path is the id; its scheme and host
  are not compared (``netaudit certs issue`` writes ``https://management.azure.com/
  subscriptions/…/managedClusters/NAME``, the resource's ARM URL), and only
  certificates the configured CA signed get this far;
- a **bearer token** (``authorization: Bearer <token>`` metadata) made by ``netaudit
  tokens create`` for one cluster; the store keeps its sha256 only.

Every credential presented must be valid and all must name the same cluster. The
stream's hello and every report must then name that cluster (ARM ids compared
case-insensitively), else the stream ends with PERMISSION_DENIED and nothing is stored.
Everything here is pure except ``Authenticator.identify``, which asks the store.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

AKS_CLUSTER_ID = re.compile(
    r"/subscriptions/[^/\s]+/resourcegroups/[^/\s]+/providers/"
    r"microsoft\.containerservice/managedclusters/[^/\s]+",
    re.IGNORECASE,
)
CLUSTER_URI_BASE = "https://management.azure.com"
"""What `netaudit certs issue` puts before the ARM id in a client certificate's URI SAN."""
PEER_URI_PROPERTY = "peer_uri"
"""grpc's auth-context property holding the verified client certificate's URI SANs."""
PEER_CERTIFICATE_PROPERTY = "x509_pem_cert"


class Unauthenticated(Exception):
    """No valid credential: the stream is refused before anything is read."""


class PermissionDenied(Exception):
    """A valid credential, used for another cluster than its own."""


class CredentialCheckFailed(Exception):
    """The credential could not be checked (the store is unavailable): retry later."""


def cluster_key(arm_resource_id: str) -> str:
    """The cluster's key, as the store keys it: the ARM id, lower-cased."""
    return arm_resource_id.strip().lower()


def is_aks_cluster_id(value: str) -> bool:
    return AKS_CLUSTER_ID.fullmatch(value.strip()) is not None


def cluster_uri(arm_resource_id: str) -> str:
    """The URI SAN naming a cluster in its agent's client certificate."""
    return CLUSTER_URI_BASE + arm_resource_id.strip()


def cluster_of_uri(uri: str) -> str | None:
    """The cluster key a URI SAN names (its path is an AKS ARM id), else None."""
    path = urlsplit(uri.strip()).path
    return cluster_key(path) if is_aks_cluster_id(path) else None


@dataclass(frozen=True)
class Identity:
    """The cluster a stream's credential speaks for."""

    cluster_key: str
    credential: str
    """What proved it, for messages and logs: "client certificate" or "token <id>"."""
    token: str | None = field(default=None, repr=False)
    """The bearer token presented, re-checked before each report: a token revoked while
    its stream is open stops writing at the next report, not at the next reconnect."""

    def require(self, cluster_id: str, what: str) -> None:
        """PermissionDenied unless `cluster_id` (from a hello or a report) is this cluster."""
        require_cluster(cluster_id, self.cluster_key, what, f"the {self.credential}")


def require_cluster(cluster_id: str, bound_to: str, what: str, credential: str) -> None:
    """PermissionDenied unless `cluster_id` is `bound_to` (ARM ids, case-insensitively)."""
    if cluster_key(cluster_id) != cluster_key(bound_to):
        named = _shown(cluster_id.strip()) or "no cluster"
        raise PermissionDenied(
            f"{what} names {named}, but {credential} is for {cluster_key(bound_to)}"
        )


def _shown(value: str, limit: int = 300) -> str:
    """A client-sent value as it may appear in a status message: bounded."""
    return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"


class TokenRecord(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def cluster_key(self) -> str: ...


class TokenVerifier(Protocol):
    """What authentication needs from the store."""

    def active_agent_token(self, token: str) -> TokenRecord | None: ...


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """The token of the call's `authorization: Bearer …` metadata; None when there is none."""
    values = [value for key, value in metadata if key.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise Unauthenticated("send one authorization header, not several")
    value = values[0]
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
    return token.strip()


def certificate_clusters(auth_context: Mapping[str, Iterable[bytes]]) -> set[str]:
    """The clusters the verified client certificate's URI SANs name."""
    uris = (uri.decode(errors="replace") for uri in auth_context.get(PEER_URI_PROPERTY, ()))
    return {key for key in map(cluster_of_uri, uris) if key is not None}


def has_client_certificate(auth_context: Mapping[str, Iterable[bytes]]) -> bool:
    return bool(list(auth_context.get(PEER_CERTIFICATE_PROPERTY, ())))


def decide_identity(
    certificate: set[str] | None, token: TokenRecord | None, token_sent: bool
) -> Identity:
    """The stream's identity from what was presented and checked.

    `certificate`: the clusters a client certificate names (None: no certificate);
    `token`: the active token record, None if none was sent or it is unknown or revoked.
    """
    if certificate is not None and len(certificate) != 1:
        raise Unauthenticated(
            f"the client certificate names {len(certificate)} clusters; it needs exactly one "
            "URI SAN with the cluster's ARM resource id (`netaudit certs issue`)"
        )
    if token_sent and token is None:
        raise Unauthenticated("the bearer token is unknown or revoked")
    by_certificate = next(iter(certificate)) if certificate else None
    if by_certificate is not None and token is not None and token.cluster_key != by_certificate:
        raise PermissionDenied(
            f"the client certificate is for {by_certificate}, "
            f"but token {token.id} is for {token.cluster_key}"
        )
    if by_certificate is not None:
        return Identity(by_certificate, "client certificate")
    if token is not None:
        return Identity(token.cluster_key, f"token {token.id}")
    raise Unauthenticated(
        "no credential: send `authorization: Bearer <token>` metadata (`netaudit tokens "
        "create`) or a client certificate naming the cluster"
    )


class Authenticator:
    """Identifies streams from their TLS peer and metadata; or, --insecure, nobody."""

    def __init__(self, tokens: TokenVerifier | None, *, insecure: bool = False) -> None:
        if tokens is None and not insecure:
            raise ValueError("an authenticator needs a token verifier unless it is insecure")
        self._tokens = tokens
        self._insecure = insecure

    @classmethod
    def insecure(cls) -> Authenticator:
        """Accepts every stream without a credential (plaintext, loopback tests)."""
        return cls(None, insecure=True)

    @property
    def binds_clusters(self) -> bool:
        """True when every stream has an identity its hello and reports must match."""
        return not self._insecure

    async def identify(
        self,
        metadata: Iterable[tuple[str, str | bytes]],
        auth_context: Mapping[str, Iterable[bytes]],
    ) -> Identity | None:
        """The stream's identity (None when insecure); Unauthenticated or PermissionDenied."""
        if self._insecure or self._tokens is None:
            return None
        token = bearer_token(metadata)
        record = None if token is None else await self._verify(self._tokens, token)
        certificate = (
            certificate_clusters(auth_context) if has_client_certificate(auth_context) else None
        )
        identity = decide_identity(certificate, record, token is not None)
        return replace(identity, token=token) if record is not None else identity

    async def require_active(self, identity: Identity) -> None:
        """Unauthenticated when the stream's token has been revoked since it connected."""
        if identity.token is None or self._tokens is None:
            return
        if await self._verify(self._tokens, identity.token) is None:
            raise Unauthenticated(
                f"{identity.credential} was revoked while its stream was open; "
                "nothing more is stored from it"
            )

    @staticmethod
    async def _verify(tokens: TokenVerifier, token: str) -> TokenRecord | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, tokens.active_agent_token, token)
        except Exception as error:
            log.warning("agent token not checked", extra={"error": str(error)})
            raise CredentialCheckFailed(
                "the collector cannot check tokens now (its store is unavailable); retry"
            ) from error
