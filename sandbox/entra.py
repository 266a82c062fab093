"""A minimal Entra ID (OpenID Connect) for azure-identity's client-credentials flow.

MSAL reads ``/{tenant}/v2.0/.well-known/openid-configuration`` and then posts
``grant_type=client_credentials`` to the token endpoint it names. The tokens
are opaque bearer strings the sandbox ARM server checks.
"""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import parse_qs

from netaudit.sandbox.loopback_http import Request, Response

TOKEN_LIFETIME_SECONDS = 3600


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
        if not secrets.compare_digest(form.get("client_secret", ""), self._client_secret):
            return _oauth_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent"
                f" in the request is the client secret value, not the client secret ID,"
                f" for a secret added to app '{self.client_id}'.",
            )
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

    def accepts(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expires = self._tokens.get(token.strip())
        return expires is not None and expires > time.time()
