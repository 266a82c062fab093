"""Which Azure credential the collector builds; nothing here talks to the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

from netaudit.collector.config import AzureSettings
from netaudit.collector.errors import ConfigError
from netaudit.collector.inventory.arm import ArmReader, make_credential


def test_a_client_secret_gives_a_service_principal_credential(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    azure = AzureSettings(
        tenant_id="t",
        client_id="c",
        client_secret_file=secret_file,
        authority_url="https://127.0.0.1:1",
    )
    assert isinstance(make_credential(azure), ClientSecretCredential)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [({"client_id": "c"}, "azure.tenant_id"), ({"tenant_id": "t"}, "azure.client_id")],
)
def test_a_secret_without_tenant_or_client_names_the_setting(
    settings: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=f"azure.credential client-secret needs {missing}"):
        make_credential(AzureSettings(client_secret="s", **settings))


def chain(credential: object) -> list[object]:
    assert isinstance(credential, DefaultAzureCredential)
    return list(credential.credentials)


def test_default_credential_never_probes_instance_metadata_unless_allowed() -> None:
    assert not any(
        isinstance(c, ManagedIdentityCredential) for c in chain(make_credential(AzureSettings()))
    )
    allowed = make_credential(AzureSettings(use_managed_identity=True))
    assert any(isinstance(c, ManagedIdentityCredential) for c in chain(allowed))


def test_reader_from_settings_takes_the_subscriptions() -> None:
    azure = AzureSettings(subscriptions=["a", "b"], arm_url="https://127.0.0.1:1/")
    assert ArmReader.from_settings(azure, make_credential(azure)).subscriptions == ["a", "b"]
