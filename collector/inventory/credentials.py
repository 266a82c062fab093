"""The Azure credential the inventory signs in with, chosen by ``azure.credential``.

``auto`` keeps azure-identity's chain (a client secret when one is configured), without
the managed-identity probe of the instance metadata endpoint unless
``azure.use_managed_identity`` allows it. The other names pick one credential, so a
deployment that knows how it signs in does not wait for the chain's other sources to fail.
"""

from __future__ import annotations

import os
from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import (
    AzureCliCredential,
    CertificateCredential,
    ChainedTokenCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from netaudit.collector.config import AzureSettings, client_secret
from netaudit.collector.errors import ConfigError

__all__ = [
    "client_secret_credential",
    "credential_sources",
    "make_credential",
]

FEDERATED_TOKEN_FILE_ENV = "AZURE_FEDERATED_TOKEN_FILE"
"""Where AKS's workload identity webhook mounts the service account token."""


def make_credential(azure: AzureSettings) -> TokenCredential:
    """The credential ``azure.credential`` names; ConfigError when a setting it needs is
    missing (every missing setting in one line)."""
    build = _BUILDERS[azure.credential]
    return build(azure)


def credential_sources(credential: TokenCredential) -> list[str]:
    """The names of the sources a credential tries, in order: one for a single credential,
    each of the chain's for DefaultAzureCredential (sources it could not even set up, such
    as workload identity without its token file, included)."""
    if isinstance(credential, ChainedTokenCredential):
        return [
            # FailedDACCredential stands in for a source that could not be set up
            str(getattr(source, "_credential_name", None) or type(source).__name__)
            for source in credential.credentials
        ]
    return [type(credential).__name__]


def client_secret_credential(
    tenant_id: str,
    client_id: str,
    secret: str,
    authority: str | None = None,
    connection_verify: str | None = None,
) -> ClientSecretCredential:
    """A service principal's credential; a custom ``authority`` (sovereign cloud, the
    sandbox's identity provider) skips MSAL's instance discovery, which would ask the
    public cloud whether the authority is known."""
    return ClientSecretCredential(
        tenant_id, client_id, secret, **_authority_options(authority, connection_verify)
    )


def _auto(azure: AzureSettings) -> TokenCredential:
    if client_secret(azure):
        return _client_secret(azure)
    options: dict[str, Any] = {
        "exclude_managed_identity_credential": not azure.use_managed_identity,
    }
    if azure.authority_url:
        options["authority"] = azure.authority_url
    if azure.tenant_id:
        options["tenant_id"] = azure.tenant_id
    if azure.managed_identity_client_id:
        options["managed_identity_client_id"] = azure.managed_identity_client_id
    if azure.ca_bundle:
        options["connection_verify"] = str(azure.ca_bundle)
    return DefaultAzureCredential(**options)


def _client_secret(azure: AzureSettings) -> TokenCredential:
    secret = client_secret(azure)
    _require(
        "client-secret",
        {
            "azure.tenant_id": azure.tenant_id,
            "azure.client_id": azure.client_id,
            "azure.client_secret_file (or azure.client_secret)": secret,
        },
    )
    return client_secret_credential(
        azure.tenant_id, azure.client_id, secret, azure.authority_url or None, _verify(azure)
    )


def _client_certificate(azure: AzureSettings) -> TokenCredential:
    _require(
        "client-certificate",
        {
            "azure.tenant_id": azure.tenant_id,
            "azure.client_id": azure.client_id,
            "azure.client_certificate_file": str(azure.client_certificate_file or ""),
        },
    )
    return CertificateCredential(
        azure.tenant_id,
        azure.client_id,
        str(azure.client_certificate_file),
        # x5c: lets Entra ID accept a certificate by subject name and issuer (SNI), so a
        # rotated certificate needs no new upload
        send_certificate_chain=True,
        **_authority_options(azure.authority_url or None, _verify(azure)),
    )


def _workload_identity(azure: AzureSettings) -> TokenCredential:
    token_file = str(azure.federated_token_file or os.environ.get(FEDERATED_TOKEN_FILE_ENV, ""))
    _require(
        "workload-identity",
        {
            "azure.tenant_id (or AZURE_TENANT_ID)": azure.tenant_id
            or os.environ.get("AZURE_TENANT_ID", ""),
            "azure.client_id (or AZURE_CLIENT_ID)": azure.client_id
            or os.environ.get("AZURE_CLIENT_ID", ""),
            "azure.federated_token_file (or AZURE_FEDERATED_TOKEN_FILE)": token_file,
        },
    )
    return WorkloadIdentityCredential(
        tenant_id=azure.tenant_id or None,
        client_id=azure.client_id or None,
        token_file_path=token_file,
        **_authority_options(azure.authority_url or None, _verify(azure)),
    )


def _managed_identity(azure: AzureSettings) -> TokenCredential:
    return ManagedIdentityCredential(client_id=azure.managed_identity_client_id or None)


def _azure_cli(azure: AzureSettings) -> TokenCredential:
    return AzureCliCredential(tenant_id=azure.tenant_id)


_BUILDERS = {
    "auto": _auto,
    "client-secret": _client_secret,
    "client-certificate": _client_certificate,
    "workload-identity": _workload_identity,
    "managed-identity": _managed_identity,
    "azure-cli": _azure_cli,
}


def _require(credential: str, settings: dict[str, str]) -> None:
    """ConfigError naming every setting (by its configuration key) that is empty."""
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise ConfigError(f"azure.credential {credential} needs {' and '.join(missing)}")


def _authority_options(authority: str | None, connection_verify: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if authority:
        options["authority"] = authority
        options["disable_instance_discovery"] = True
    if connection_verify:
        options["connection_verify"] = connection_verify
    return options


def _verify(azure: AzureSettings) -> str | None:
    return str(azure.ca_bundle) if azure.ca_bundle else None
