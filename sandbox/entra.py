"""A minimal Entra ID (OpenID Connect) for azure-identity's client-credentials flow.

MSAL reads ``/{tenant}/v2.0/.well-known/openid-configuration`` and then posts
``grant_type=client_credentials`` to the token endpoint it names, with the client
secret or a client assertion: a JWT signed with a certificate the application trusts
(CertificateCredential; PS256 with ``x5t#S256``, RS256 with ``x5t``), or the federated
service account token of workload identity. The tokens are opaque bearer strings the
sandbox ARM server checks.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from netaudit.sandbox.loopback_http import Request, Response

TOKEN_LIFETIME_SECONDS = 3600
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _oauth_error(status: int, error: str, description: str) -> Response:
    code = int(description.split(":", 1)[0].removeprefix("AADSTS") or 0)
    return Response.json(
        status,
        {"error": error, "error_description": description, "error_codes": [code]},
    )


class EntraIdentity:
    """Issues tokens to one service principal of one tenant."""

    def __init__(self, tenant_id: str, client_id: str, client_secret: str) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._certificates: dict[str, x509.Certificate] = {}
        self._federated_tokens: set[str] = set()

    def trust_certificate(self, certificate_pem: bytes) -> None:
        """Accept client assertions signed with this certificate's key (an uploaded
        certificate of the application)."""
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        for thumbprint in _thumbprints(certificate):
            self._certificates[thumbprint] = certificate

    def trust_federated_token(self, token: str) -> None:
        """Accept this service account token as a workload identity assertion (a
        federated credential of the application)."""
        self._federated_tokens.add(token)

    def handles(self, request: Request) -> bool:
        parts = [p for p in request.path.split("/") if p]
        return len(parts) >= 2 and parts[1] in ("v2.0", "oauth2", "discovery")

    def handle(self, request: Request, base_url: str) -> Response:
        parts = [p for p in request.path.split("/") if p]
        tenant = parts[0]
        if tenant.lower() not in (self.tenant_id.lower(), "organizations", "common"):
            return _oauth_error(
                400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found."
            )
        if parts[1:] == ["v2.0", ".well-known", "openid-configuration"] and request.method == "GET":
            return Response.json(200, self.openid_configuration(base_url, tenant))
        if parts[1:] == ["oauth2", "v2.0", "token"] and request.method == "POST":
            return self._token(request)
        return _oauth_error(
            404, "invalid_request", "AADSTS900561: The endpoint only accepts GET/POST."
        )

    def openid_configuration(self, base_url: str, tenant: str) -> dict[str, object]:
        root = f"{base_url}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base_url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox.local",
        }

    def _token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type;"
                " only client_credentials is served.",
            )
        if form.get("client_id") != self.client_id:
            return _oauth_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}'"
                f" was not found in the directory '{self.tenant_id}'.",
            )
        refused = (
            self._refuse_assertion(form, request)
            if "client_assertion" in form
            else self._refuse_secret(form)
        )
        if refused is not None:
            return refused
        if not form.get("scope", "").endswith("/.default"):
            return _oauth_error(
                400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid."
            )
        token = "sandbox-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.time() + TOKEN_LIFETIME_SECONDS
        return Response.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "ext_expires_in": TOKEN_LIFETIME_SECONDS,
                "access_token": token,
            },
        )

    def _refuse_secret(self, form: dict[str, str]) -> Response | None:
        if secrets.compare_digest(form.get("client_secret", ""), self._client_secret):
            return None
        return _oauth_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent"
            f" in the request is the client secret value, not the client secret ID,"
            f" for a secret added to app '{self.client_id}'.",
        )

    def _refuse_assertion(self, form: dict[str, str], request: Request) -> Response | None:
        assertion = form["client_assertion"]
        if form.get("client_assertion_type") != JWT_BEARER:
            return _oauth_error(
                400, "invalid_request", "AADSTS700024: Client assertion type is not supported."
            )
        if assertion in self._federated_tokens:
            return None
        try:
            header = jwt.get_unverified_header(assertion)
            thumbprint = str(header.get("x5t#S256") or header.get("x5t") or "")
            certificate = self._certificates[thumbprint.rstrip("=")]
            jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["PS256", "RS256"],
                audience=f"https://{request.header('Host')}{request.path}",
                issuer=self.client_id,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.DecodeError:
            return _oauth_error(
                400,
                "invalid_request",
                "AADSTS700213: No matching federated identity record found for presented "
                f"assertion on application '{self.client_id}'.",
            )
        except (KeyError, jwt.PyJWTError):
            return _oauth_error(
                401,
                "invalid_client",
                "AADSTS700027: The certificate with identifier used to sign the client "
                f"assertion is not registered on application '{self.client_id}'.",
            )
        return None

    def accepts(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expires = self._tokens.get(token.strip())
        return expires is not None and expires > time.time()


def _thumbprints(certificate: x509.Certificate) -> tuple[str, str]:
    """The ``x5t#S256`` and ``x5t`` header values MSAL may send (base64url of the
    certificate's SHA-256 or SHA-1 fingerprint), without padding."""
    sha256, sha1 = (
        base64.urlsafe_b64encode(certificate.fingerprint(algorithm)).decode().rstrip("=")
        for algorithm in (hashes.SHA256(), hashes.SHA1())
    )
    return sha256, sha1
