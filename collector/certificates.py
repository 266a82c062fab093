"""Certificates of the ingest port, made and checked with `cryptography`.

`netaudit certs init` makes a quick-start CA and a server certificate for the
collector's host names; `netaudit certs issue CLUSTER_ID` makes an agent's client
certificate, whose URI SAN names its cluster (see ingest/auth.py), and `netaudit certs
issue --admin NAME` an operator's, whose URI SAN is `netaudit:admin` (ingest/admin_auth.py).
At scale, any CA (cert-manager, a corporate PKI) issuing the same shapes works as well.
`load_server_tls` checks the PEM files the collector is configured with before gRPC
sees them: gRPC would only say "failed to bind" about a bad file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from netaudit.collector.errors import ConfigError, UsageError
from netaudit.collector.ingest.admin_auth import ADMIN_URI
from netaudit.collector.ingest.auth import cluster_uri, is_aks_cluster_id

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
CLIENT_CERT_FILE = "client.pem"
CLIENT_KEY_FILE = "client-key.pem"
CA_DAYS = 3650
"""The quick-start CA outlives the certificates it issues; re-run `certs init` to replace it."""
DEFAULT_DAYS = 365
CLOCK_SKEW = timedelta(minutes=5)
"""Certificates start this far in the past, so a peer whose clock runs late accepts them."""
_DNS_NAME = re.compile(
    r"(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)
_MAX_COMMON_NAME = 64


@dataclass(frozen=True)
class ServerTls:
    """What the ingest port serves TLS with (PEM bytes)."""

    certificate_chain: bytes
    private_key: bytes = field(repr=False)
    client_ca: bytes | None = None
    """Set: mutual TLS, every client presents a certificate this CA signed."""


@dataclass(frozen=True)
class CertificateFiles:
    certificate: Path
    key: Path


def default_hosts() -> list[str]:
    """Names the quick-start server certificate covers unless told otherwise."""
    return list(dict.fromkeys(["localhost", "127.0.0.1", "::1", socket.gethostname()]))


def init_authority(
    folder: Path, hosts: Sequence[str], *, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> tuple[CertificateFiles, CertificateFiles]:
    """A new CA and a server certificate for `hosts` in `folder`: (ca, server) files."""
    now = now or datetime.now(UTC)
    names = [_host_name(host) for host in hosts]
    if not names:
        raise UsageError("name at least one --host for the server certificate")
    ca = CertificateFiles(folder / CA_CERT_FILE, folder / CA_KEY_FILE)
    server = CertificateFiles(folder / SERVER_CERT_FILE, folder / SERVER_KEY_FILE)
    for path in (ca.certificate, ca.key, server.certificate, server.key):
        if path.exists():
            raise UsageError(f"{path} exists; remove the folder's files or choose another --dir")
    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netaudit quick-start CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now, now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(certificate_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = _new_key()
    server_cert = (
        _leaf(ca_cert, ca_key, server_key, _common_name(hosts[0]), now, days)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_key(ca.key, ca_key)
    _write_certificate(ca.certificate, [ca_cert])
    _write_key(server.key, server_key)
    _write_certificate(server.certificate, [server_cert])
    return ca, server


def issue_client_certificate(
    folder: Path,
    cluster_id: str,
    out: Path | None = None,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> CertificateFiles:
    """A client certificate for the agent of `cluster_id`, signed by the CA in `folder`.

    Written to `out` (default: folder/clients/<cluster name>) as client.pem and
    client-key.pem; the agent verifies the collector with folder/ca.pem.
    """
    cluster_id = cluster_id.strip()
    if not is_aks_cluster_id(cluster_id):
        raise UsageError(
            f"{cluster_id!r} is not an AKS cluster id; give /subscriptions/SUB/resourceGroups/"
            "RG/providers/Microsoft.ContainerService/managedClusters/NAME"
        )
    name = cluster_id.rsplit("/", 1)[-1]
    target = out or folder / "clients" / name.lower()
    return _issue_client(folder, name, cluster_uri(cluster_id), target, days, now)


def issue_admin_certificate(
    folder: Path,
    name: str,
    out: Path | None = None,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> CertificateFiles:
    """A client certificate for an operator calling the AdminService (URI SAN
    `netaudit:admin`, common name `name`), written to `out` (default: folder/admins/NAME)."""
    name = name.strip()
    if not name or "/" in name:
        raise UsageError(f"{name!r} is not an admin name; give a short name without '/'")
    target = out or folder / "admins" / name.lower()
    return _issue_client(folder, name, ADMIN_URI, target, days, now)


def _issue_client(
    folder: Path, name: str, uri: str, target: Path, days: int, now: datetime | None
) -> CertificateFiles:
    now = now or datetime.now(UTC)
    ca_cert, ca_key = _read_authority(folder)
    files = CertificateFiles(target / CLIENT_CERT_FILE, target / CLIENT_KEY_FILE)
    for path in (files.certificate, files.key):
        if path.exists():
            raise UsageError(f"{path} exists; remove it or choose another --out folder")
    key = _new_key()
    certificate = (
        _leaf(ca_cert, ca_key, key, _common_name(name), now, days)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_key(files.key, key)
    _write_certificate(files.certificate, [certificate])
    return files


def load_server_tls(
    cert_file: Path,
    key_file: Path,
    client_ca_file: Path | None = None,
    *,
    now: datetime | None = None,
) -> ServerTls:
    """The ingest port's PEM files, checked; one ConfigError naming every problem."""
    now = now or datetime.now(UTC)
    problems: list[str] = []
    chain = _read("ingest.tls_cert_file", cert_file, problems)
    key_pem = _read("ingest.tls_key_file", key_file, problems)
    client_ca = None
    if client_ca_file is not None:
        client_ca = _read("ingest.tls_client_ca_file", client_ca_file, problems)
    certificates = _certificates("ingest.tls_cert_file", cert_file, chain, problems)
    key = _private_key("ingest.tls_key_file", key_file, key_pem, problems)
    _certificates("ingest.tls_client_ca_file", client_ca_file, client_ca, problems)
    if certificates and key is not None:
        problems += _server_certificate_problems(certificates[0], key, cert_file, key_file, now)
    if problems or chain is None or key_pem is None:
        raise ConfigError("ingest TLS: " + "; ".join(problems))
    return ServerTls(chain, key_pem, client_ca)


def _server_certificate_problems(
    certificate: x509.Certificate,
    key: PrivateKeyTypes,
    cert_file: Path,
    key_file: Path,
    now: datetime,
) -> list[str]:
    problems = []
    if _public_der(certificate.public_key()) != _public_der(key.public_key()):
        problems.append(
            f"ingest.tls_key_file {key_file} is not the key of ingest.tls_cert_file {cert_file}"
        )
    if certificate.not_valid_after_utc <= now:
        problems.append(
            f"ingest.tls_cert_file {cert_file} expired on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}; issue a new one"
        )
    return problems


def _read(setting: str, path: Path | None, problems: list[str]) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        problems.append(f"{setting} {path} cannot be read: {error.strerror or error}")
        return None


def _certificates(
    setting: str, path: Path | None, data: bytes | None, problems: list[str]
) -> list[x509.Certificate]:
    if data is None:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        problems.append(f"{setting} {path} holds no PEM certificate")
        return []


def _private_key(
    setting: str, path: Path, data: bytes | None, problems: list[str]
) -> PrivateKeyTypes | None:
    if data is None:
        return None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        problems.append(f"{setting} {path} is encrypted; the collector needs it unencrypted")
    except (ValueError, UnsupportedAlgorithm):
        problems.append(f"{setting} {path} holds no PEM private key")
    return None


def _public_der(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:
        return b""
    data: bytes = public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def _read_authority(folder: Path) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    try:
        certificate = x509.load_pem_x509_certificate((folder / CA_CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((folder / CA_KEY_FILE).read_bytes(), password=None)
    except FileNotFoundError as error:
        raise UsageError(
            f"{folder} holds no CA ({error.filename}); run `netaudit certs init` first "
            "or name the folder with --dir"
        ) from error
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"the CA in {folder} cannot be used: {error}") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"{folder / CA_KEY_FILE} is not the EC key `netaudit certs init` makes")
    return certificate, key


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _DNS_NAME.fullmatch(host) or len(host) > 253:
        raise UsageError(f"--host {host!r} is neither a DNS name nor an IP address")
    return x509.DNSName(host.lower())


def _common_name(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value[:_MAX_COMMON_NAME])])


def _key_usage(*, certificate_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not certificate_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_sign,
        crl_sign=certificate_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    now: datetime,
    days: int,
) -> x509.CertificateBuilder:
    if days < 1:
        raise UsageError(f"--days must be at least 1, got {days}")
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    return (
        _builder(subject, ca_cert.subject, key.public_key(), now, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(path, data, 0o600)


def _write_certificate(path: Path, certificates: Iterable[x509.Certificate]) -> None:
    data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    _write_new(path, data, 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` (never widened by the umask, never over an existing file)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as error:
        raise UsageError(f"{path} exists; remove it or write elsewhere") from error
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from error
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data)
