"""Each named Azure credential signs in for real against the sandbox's identity provider
(azure-identity and MSAL unchanged), and a sign-in that fails says which sources it tried."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from netaudit.collector.config import AzureSettings
from netaudit.collector.errors import ConfigError
from netaudit.collector.inventory.arm import ArmAuthenticationError, ArmReader
from netaudit.collector.inventory.credentials import make_credential
from netaudit.sandbox.arm import ArmServer
from netaudit.sandbox.sample_fleet import SampleFleet, load_sample_fleet

PLATFORM = "aaaaaaaa-0000-0000-0000-000000000001"
FEDERATED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.sandbox-service-account-token.signature"


@pytest.fixture(scope="module")
def fleet() -> SampleFleet:
    return load_sample_fleet()


@pytest.fixture(scope="module")
def application_certificate() -> trustme.LeafCert:
    """The certificate uploaded to the application (Entra ID takes RSA keys only: MSAL
    signs its assertions with PS256 or RS256)."""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    return ca.issue_cert("netaudit-collector", key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="module")
def arm(fleet: SampleFleet, application_certificate: trustme.LeafCert) -> Iterator[ArmServer]:
    with ArmServer(fleet.arm) as server:
        server.identity.trust_certificate(application_certificate.cert_chain_pems[0].bytes())
        server.identity.trust_federated_token(FEDERATED_TOKEN)
        yield server


def settings(fleet: SampleFleet, arm: ArmServer, **options: object) -> AzureSettings:
    return AzureSettings(
        subscriptions=[PLATFORM],
        arm_url=arm.url,
        authority_url=arm.authority_url,
        ca_bundle=arm.ca_pem_path,
        tenant_id=fleet.tenant_id,
        client_id=fleet.client_id,
        **options,  # type: ignore[arg-type]
    )


def cluster_names(azure: AzureSettings) -> list[str]:
    reader = ArmReader.from_settings(azure, make_credential(azure))
    return sorted(inventory.name for inventory in reader.read())


def certificate_file(folder: Path, certificate: trustme.LeafCert) -> Path:
    pem = folder / "sp.pem"
    pem.write_bytes(certificate.private_key_pem.bytes() + certificate.cert_chain_pems[0].bytes())
    return pem


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AZURE_* variable of the machine's may feed a credential."""
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_USERNAME",
        "AZURE_AUTHORITY_HOST",
    ):
        monkeypatch.delenv(name, raising=False)


def test_a_client_certificate_signs_in_with_a_signed_assertion(
    fleet: SampleFleet, arm: ArmServer, application_certificate: trustme.LeafCert, tmp_path: Path
) -> None:
    pem = certificate_file(tmp_path, application_certificate)
    azure = settings(fleet, arm, credential="client-certificate", client_certificate_file=pem)
    assert cluster_names(azure) == ["aks-cni-neu", "aks-kubenet-weu"]


def test_a_certificate_the_application_does_not_trust_is_one_line_naming_the_credential(
    fleet: SampleFleet, arm: ArmServer, tmp_path: Path, clean_environment: None
) -> None:
    pem = certificate_file(
        tmp_path,
        trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
            "stranger", key_type=trustme.KeyType.RSA
        ),
    )
    azure = settings(fleet, arm, credential="client-certificate", client_certificate_file=pem)
    with pytest.raises(ArmAuthenticationError) as raised:
        cluster_names(azure)
    message = str(raised.value)
    assert message.startswith("cannot authenticate to Azure with CertificateCredential:")
    assert "AADSTS700027" in message
    assert "\n" not in message


def test_workload_identity_signs_in_with_the_service_account_token(
    fleet: SampleFleet, arm: ArmServer, tmp_path: Path, clean_environment: None
) -> None:
    token = tmp_path / "azure-identity-token"
    token.write_text(FEDERATED_TOKEN)
    azure = settings(fleet, arm, credential="workload-identity", federated_token_file=token)
    assert cluster_names(azure) == ["aks-cni-neu", "aks-kubenet-weu"]


def test_workload_identity_reads_the_webhooks_variable(
    fleet: SampleFleet,
    arm: ArmServer,
    tmp_path: Path,
    clean_environment: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tmp_path / "azure-identity-token"
    token.write_text("a token the application has no federated credential for")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    azure = settings(fleet, arm, credential="workload-identity")
    with pytest.raises(ArmAuthenticationError) as raised:
        cluster_names(azure)
    assert str(raised.value).startswith(
        "cannot authenticate to Azure with WorkloadIdentityCredential:"
    )
    assert "AADSTS700213" in str(raised.value)


def test_when_no_source_of_the_chain_works_the_line_names_every_source_tried(
    fleet: SampleFleet, arm: ArmServer, clean_environment: None
) -> None:
    azure = AzureSettings(subscriptions=[PLATFORM], arm_url=arm.url, ca_bundle=arm.ca_pem_path)
    with pytest.raises(ArmAuthenticationError) as raised:
        cluster_names(azure)
    message = str(raised.value)
    assert message.startswith("no Azure credential worked (tried EnvironmentCredential, ")
    assert "WorkloadIdentityCredential" in message
    assert "AzureCliCredential" in message
    assert "ManagedIdentityCredential" not in message
    assert "set azure.credential" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ({"credential": "client-certificate"}, "azure.client_certificate_file"),
        ({"credential": "client-secret"}, "azure.client_secret_file (or azure.client_secret)"),
        (
            {"credential": "workload-identity"},
            "azure.federated_token_file (or AZURE_FEDERATED_TOKEN_FILE)",
        ),
    ],
)
def test_a_named_credential_without_its_settings_names_them(
    fleet: SampleFleet,
    arm: ArmServer,
    options: dict[str, str],
    missing: str,
    clean_environment: None,
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"needs {missing}") + "$"):
        make_credential(settings(fleet, arm, **options))
