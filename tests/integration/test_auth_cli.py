"""`netaudit tokens` and `netaudit certs`: what they print, the files they write, and
one-line errors (exit code 2) for bad input."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
CLUSTER = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/RG-A/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)


def netaudit(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NETAUDIT, "--state-dir", str(state), *args], capture_output=True, text=True, timeout=60
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netaudit: error: ")
    return lines[0]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    assert netaudit(folder, "db", "upgrade").returncode == 0
    return folder


def test_tokens_create_prints_the_token_once_and_list_never_shows_it(state: Path) -> None:
    created = netaudit(state, "tokens", "create", CLUSTER)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"
    assert token.startswith("nat_")
    assert "not shown again" in created.stderr
    listed = netaudit(state, "tokens", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "CREATED", "REVOKED", "CLUSTER"]
    assert row.split()[1] == "active" and row.split()[-1] == CLUSTER.lower()
    assert row.split()[0] in created.stderr
    assert token not in listed.stdout + listed.stderr
    assert token.encode() not in (state / "netaudit.db").read_bytes()


def test_tokens_revoke_marks_the_token_revoked(state: Path) -> None:
    netaudit(state, "tokens", "create", CLUSTER)
    token_id = netaudit(state, "tokens", "list").stdout.splitlines()[1].split()[0]
    revoked = netaudit(state, "tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith(f"token {token_id} of {CLUSTER.lower()} revoked at ")
    row = netaudit(state, "tokens", "list", "--cluster", CLUSTER).stdout.splitlines()[1]
    assert row.split()[:2] == [token_id, "revoked"]


def test_an_admin_token_is_listed_as_admin_and_revoked_by_id(state: Path) -> None:
    created = netaudit(state, "tokens", "create", "--admin", "ops")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("nat_admin_") and "admin.token_file" in created.stderr
    row = netaudit(state, "tokens", "list").stdout.splitlines()[1].split()
    assert row[1:2] + row[-1:] == ["active", "admin:ops"]
    assert netaudit(state, "tokens", "list", "--cluster", CLUSTER).stdout.count("\n") == 1
    revoked = netaudit(state, "tokens", "revoke", row[0])
    assert revoked.stdout.startswith(f"admin token {row[0]} (ops) revoked at "), revoked.stderr
    assert netaudit(state, "tokens", "list").stdout.splitlines()[1].split()[1] == "revoked"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("tokens", "create"), "give either CLUSTER_ID (an agent token) or --admin NAME"),
        (("tokens", "create", CLUSTER, "--admin", "ops"), "give either CLUSTER_ID"),
        (("tokens", "create", "aks-a"), "'aks-a' is not an AKS cluster id"),
        (("tokens", "create", CLUSTER + "/agentPools/np1"), "is not an AKS cluster id"),
        (("tokens", "revoke", "0123456789ab"), "no agent token has id '0123456789ab'"),
    ],
)
def test_tokens_bad_input_is_one_line_and_exit_code_2(
    state: Path, args: tuple[str, ...], says: str
) -> None:
    assert says in one_line_error(netaudit(state, *args))


def test_tokens_on_an_unmigrated_store_say_to_upgrade(tmp_path: Path) -> None:
    line = one_line_error(
        netaudit(tmp_path, "tokens", "list"), code=2
    )  # a store to create is a setup problem: exit 2
    assert "netaudit db upgrade" in line


def test_certs_init_writes_a_ca_and_a_server_certificate_with_private_keys(
    tmp_path: Path,
) -> None:
    result = netaudit(
        tmp_path, "certs", "init", "--host", "collector.example", "--host", "10.0.0.5"
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "tls"
    assert f"ingest.tls_cert_file={folder / 'server.pem'}" in result.stdout
    for key in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600
    server = x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["collector.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    server.verify_directly_issued_by(ca)


def test_certs_issue_names_the_cluster_in_a_uri_san(tmp_path: Path) -> None:
    assert netaudit(tmp_path, "certs", "init").returncode == 0
    result = netaudit(tmp_path, "certs", "issue", CLUSTER)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "tls" / "clients" / "aks-a"
    assert stat.S_IMODE((folder / "client-key.pem").stat().st_mode) == 0o600
    client = x509.load_pem_x509_certificate((folder / "client.pem").read_bytes())
    names = client.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "https://management.azure.com" + CLUSTER
    ]
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [oid.dotted_string for oid in usage] == ["1.3.6.1.5.5.7.3.2"]  # clientAuth
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "ca.pem").read_bytes())
    client.verify_directly_issued_by(ca)


def test_certs_issue_admin_makes_the_netaudit_admin_uri_san(tmp_path: Path) -> None:
    assert netaudit(tmp_path, "certs", "init").returncode == 0
    result = netaudit(tmp_path, "certs", "issue", "--admin", "ops")
    assert result.returncode == 0, result.stderr
    assert "admin.tls_client_cert=" in result.stdout
    folder = tmp_path / "tls" / "admins" / "ops"
    assert stat.S_IMODE((folder / "client-key.pem").stat().st_mode) == 0o600
    client = x509.load_pem_x509_certificate((folder / "client.pem").read_bytes())
    names = client.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["netaudit:admin"]
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "ca.pem").read_bytes())
    client.verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("setup", "args", "says"),
    [
        ((("certs", "init"),), ("certs", "issue"), "give either CLUSTER_ID"),
        ((("certs", "init"),), ("certs", "issue", "--admin", "a/b"), "is not an admin name"),
        ((), ("certs", "issue", CLUSTER), "holds no CA"),
        ((("certs", "init"),), ("certs", "init"), "exists; remove the folder's files"),
        ((("certs", "init"),), ("certs", "issue", "aks-a"), "is not an AKS cluster id"),
        (
            (("certs", "init"), ("certs", "issue", CLUSTER)),
            ("certs", "issue", CLUSTER),
            "client.pem exists",
        ),
        ((), ("certs", "init", "--host", "bad host!"), "is neither a DNS name nor an IP"),
    ],
)
def test_certs_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, setup: tuple[tuple[str, ...], ...], args: tuple[str, ...], says: str
) -> None:
    for step in setup:
        assert netaudit(tmp_path, *step).returncode == 0
    assert says in one_line_error(netaudit(tmp_path, *args))


def test_serve_without_tls_or_insecure_is_one_line_naming_both_ways(tmp_path: Path) -> None:
    line = one_line_error(netaudit(tmp_path, "serve"))
    assert "ingest.tls_cert_file" in line and "--insecure" in line
    assert not (tmp_path / "broker").exists(), "nothing starts without a transport"
