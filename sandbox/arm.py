"""Azure Resource Manager (and a minimal Entra ID) over HTTPS on loopback.

Serves the REST shapes the audit reads (managed clusters and agent pools,
virtual networks with subnets, usages and peerings, network security groups
with their rules, private endpoints and network interfaces, application
gateways, private DNS zones with virtual network links and record sets, role
assignments at any scope with ``atScope()`` / ``principalId eq`` filters, resource
provider registrations, AGC traffic controllers and their associations): any
resource body by id, top-level resources listed per subscription or resource
group, embedded children as resources of their own, paginated with ``nextLink``,
case-insensitively as ARM does, behind bearer tokens issued by the sandbox
identity provider. The TLS certificate comes from a throwaway CA (trustme)
whose PEM clients pass as ``connection_verify``.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import trustme

from netaudit.sandbox.arm_data import ArmData, Body, ResourceId
from netaudit.sandbox.arm_graph import GraphQueryError, resource_graph_page
from netaudit.sandbox.arm_throttle import ArmThrottle
from netaudit.sandbox.entra import EntraIdentity
from netaudit.sandbox.lifecycle import Lifecycle
from netaudit.sandbox.loopback_http import LoopbackHttpServer, Request, Response

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
RESOURCE_GRAPH_PATH = ["providers", "microsoft.resourcegraph", "resources"]
CERT_IDENTITIES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ArmFault:
    """Answer requests whose path matches ``path_pattern`` (a case-insensitive regular
    expression searched in the path) with ``status`` after ``delay_seconds``; ``status``
    None answers normally, only late. ``times`` answers are affected; 0 means all."""

    path_pattern: str
    status: int | None = 429
    times: int = 1
    retry_after_seconds: int | None = 1
    delay_seconds: float = 0.0


_FAULT_CODES = {
    403: ("AuthorizationFailed", "The client does not have authorization to perform this action."),
    429: (
        "TooManyRequests",
        "The request is being throttled; retry after the Retry-After interval.",
    ),
    500: (
        "InternalServerError",
        "The server encountered an internal error; please retry the request.",
    ),
    503: (
        "ServiceUnavailable",
        "The service is temporarily unavailable; please retry the request.",
    ),
}


class ArmFaults:
    """A set of faults with their remaining counts, safe to share between request threads."""

    def __init__(self, *faults: ArmFault) -> None:
        self._rules = [(re.compile(f.path_pattern, re.IGNORECASE), f) for f in faults]
        self._remaining = [f.times for f in faults]
        self._lock = threading.Lock()

    @classmethod
    def throttled(
        cls, path_pattern: str, times: int = 1, retry_after_seconds: int = 1
    ) -> ArmFaults:
        return cls(ArmFault(path_pattern, 429, times, retry_after_seconds))

    @classmethod
    def server_error(cls, path_pattern: str, times: int = 1) -> ArmFaults:
        return cls(ArmFault(path_pattern, 500, times, None))

    @classmethod
    def forbidden(cls, path_pattern: str, times: int = 0) -> ArmFaults:
        return cls(ArmFault(path_pattern, 403, times, None))

    @classmethod
    def slow(cls, path_pattern: str, delay_seconds: float, times: int = 0) -> ArmFaults:
        return cls(ArmFault(path_pattern, None, times, None, delay_seconds))

    def __add__(self, other: ArmFaults) -> ArmFaults:
        return ArmFaults(*(f for _, f in self._rules), *(f for _, f in other._rules))

    def spent(self) -> bool:
        """True once every fault with a limited count has answered all its times."""
        with self._lock:
            return all(
                remaining == 0
                for remaining, (_, fault) in zip(self._remaining, self._rules, strict=True)
                if fault.times
            )

    def denies(self, path: str) -> bool:
        """A 403 fault answers every request to ``path`` (without consuming an answer)."""
        with self._lock:
            return any(
                fault.status == 403 and fault.times == 0 and pattern.search(path)
                for pattern, fault in self._rules
            )

    def take(self, path: str) -> ArmFault | None:
        """The fault this request meets, if any; consumes one of its answers."""
        with self._lock:
            for index, (pattern, fault) in enumerate(self._rules):
                if not pattern.search(path):
                    continue
                if fault.times == 0:
                    return fault
                if self._remaining[index] > 0:
                    self._remaining[index] -= 1
                    return fault
        return None


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response.json(
            self.status, {"error": {"code": self.code, "message": self.message}}, headers
        )


def _not_found(path: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{path}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


class ArmServer(Lifecycle):
    """ARM REST API and the identity provider on one HTTPS port: ``.url`` is both the
    management endpoint (``base_url``) and the authority."""

    def __init__(
        self,
        data: ArmData,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: ArmFaults | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        ca_pem_path: Path | None = None,
        throttle: ArmThrottle | None = None,
    ) -> None:
        """``throttle``, when given, counts every ARM request and answers 429 past its
        buckets (the identity provider is not throttled)."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.data = data
        self.faults = faults or ArmFaults()
        self.page_size = page_size
        self.throttle = throttle
        self.identity = EntraIdentity(data.tenant_id, data.client_id, data.client_secret)
        self._ca = trustme.CA(organization_name="netaudit sandbox")
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._ca_pem_path = ca_pem_path
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*CERT_IDENTITIES).configure_cert(context)
        self._http = LoopbackHttpServer(self.handle, host, port, ssl_context=context)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def authority_url(self) -> str:
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def ca_pem_path(self) -> Path:
        if self._ca_pem_path is None:
            raise RuntimeError("the ARM server is not started")
        return self._ca_pem_path

    def start(self) -> None:
        if self._ca_pem_path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="netaudit-arm-")
            self._ca_pem_path = Path(self._tempdir.name) / "ca.pem"
        self._ca_pem_path.parent.mkdir(parents=True, exist_ok=True)
        self._ca.cert_pem.write_to_path(str(self._ca_pem_path))
        self._http.start()
        logger.info("ARM and identity provider listening on %s", self.url)

    def stop(self) -> None:
        self._http.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self._ca_pem_path = None

    # -- requests ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        headers = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": str(uuid.uuid4()),
        }
        fault = self.faults.take(request.path)
        if fault is not None:
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            if fault.status is not None:
                return self._fault_response(fault, headers)
        base_url = f"https://{request.header('Host') or f'{self._http.host}:{self.port}'}"
        if self.identity.handles(request):
            return self.identity.handle(request, base_url)
        if self.throttle is not None:
            status, throttle_headers = self.throttle.admit(
                self.data.client_id, request.method, request.path
            )
            headers.update(throttle_headers)
            if status is not None:
                code, message = _FAULT_CODES[status]
                return ArmError(status, code, message).response(headers)
        try:
            response = self._arm(request, base_url)
        except ArmError as error:
            response = error.response()
        response.headers.update(headers)
        return response

    @staticmethod
    def _fault_response(fault: ArmFault, headers: dict[str, str]) -> Response:
        assert fault.status is not None
        code, message = _FAULT_CODES.get(fault.status, ("SandboxFault", "Injected fault."))
        if fault.retry_after_seconds is not None:
            headers = {**headers, "Retry-After": str(fault.retry_after_seconds)}
        return ArmError(fault.status, code, message).response(headers)

    def _arm(self, request: Request, base_url: str) -> Response:
        parts = [p for p in request.path.split("/") if p]
        graph = [p.lower() for p in parts] == RESOURCE_GRAPH_PATH
        if not parts or (parts[0].lower() != "subscriptions" and not graph):
            raise _not_found(request.path)
        authorization = request.header("Authorization")
        if not authorization:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if not self.identity.accepts(authorization):
            raise ArmError(
                401, "InvalidAuthenticationToken", "The access token is invalid or has expired."
            )
        if "api-version" not in request.query:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if graph and request.method == "POST":
            try:
                return Response.json(
                    200, resource_graph_page(self.data, request.body, self._readable)
                )
            except GraphQueryError as error:
                raise ArmError(400, "BadRequest", str(error)) from error
        if request.method != "GET":
            raise ArmError(405, "MethodNotAllowed", "The sandbox ARM API is read-only.")
        lowered = [p.lower() for p in parts]
        if lowered[-3:] == ["providers", "microsoft.authorization", "roleassignments"]:
            return self._role_assignments(request, lowered, base_url)
        found = self._find(request.path, lowered)
        if isinstance(found, list):
            return self._page(found, request, base_url)
        return Response.json(200, found)

    def _role_assignments(self, request: Request, parts: list[str], base_url: str) -> Response:
        """RoleAssignments_ListForScope at a subscription, a resource group or a resource,
        which must exist."""
        scope_parts = parts[:-3]
        scope = "/" + "/".join(request.path.strip("/").split("/")[:-3])
        self._require_subscription(scope_parts[1])
        if len(scope_parts) == 4 and scope_parts[2] == "resourcegroups":
            if scope_parts[3] not in self.data.resource_groups(scope_parts[1]):
                raise ArmError(
                    404,
                    "ResourceGroupNotFound",
                    f"Resource group '{scope_parts[3]}' could not be found.",
                )
        elif len(scope_parts) != 2 and self.data.get(scope) is None:
            raise _not_found(scope)
        filter_ = request.query.get("$filter", "")
        return self._page(self.data.role_assignments_for(scope, filter_), request, base_url)

    def _require_subscription(self, subscription: str) -> None:
        if not self.data.has_subscription(subscription):
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription}' could not be found.",
            )

    def _readable(self, subscription: str) -> bool:
        """Resource Graph leaves out the subscriptions the principal may not read: here
        those whose cluster listing a standing 403 fault denies."""
        return not self.faults.denies(
            f"/subscriptions/{subscription}/providers/Microsoft.ContainerService/managedClusters"
        )

    def _find(self, path: str, parts: list[str]) -> Body | list[Body]:
        data = self.data
        if len(parts) == 1:
            return [self._subscription(s) for s in sorted(data.subscription_names)]
        subscription = parts[1]
        if not data.has_subscription(subscription):
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription}' could not be found.",
            )
        if len(parts) == 2:
            return self._subscription(subscription)
        if len(parts) == 4 and parts[2] == "providers":
            namespace = path.strip("/").split("/")[3]
            return self.data.provider(subscription, namespace)
        if len(parts) == 5 and parts[2] == "providers":
            return data.list_top_level(subscription, f"{parts[3]}/{parts[4]}")
        if len(parts) == 3 and parts[2] == "resourcegroups":
            return [
                self._resource_group(subscription, n, loc)
                for n, loc in data.resource_groups(subscription).values()
            ]
        if len(parts) == 4 and parts[2] == "resourcegroups":
            group = data.resource_groups(subscription).get(parts[3])
            if group is None:
                raise ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{parts[3]}' could not be found."
                )
            return self._resource_group(subscription, *group)
        if len(parts) == 7 and parts[2] == "resourcegroups" and parts[4] == "providers":
            return data.list_top_level(subscription, f"{parts[5]}/{parts[6]}", parts[3])
        if len(parts) >= 8 and len(parts) % 2 == 0:
            body = data.get(path)
            if body is None:
                raise _not_found(path)
            return body
        if len(parts) >= 9:
            return self._collection(path, parts)
        raise _not_found(path)

    def _collection(self, path: str, parts: list[str]) -> list[Body]:
        parent, segment = "/" + "/".join(parts[:-1]), parts[-1]
        if (
            segment == "usages"
            and ResourceId.parse(parent).type == "microsoft.network/virtualnetworks"
        ):
            rows = self.data.usage_rows(parent)
        else:
            rows = self.data.children(parent, segment)
        if rows is None:
            raise _not_found(parent)
        return rows

    def _subscription(self, subscription: str) -> Body:
        name = next(
            (
                n
                for s, n in self.data.subscription_names.items()
                if s.lower() == subscription.lower()
            ),
            subscription,
        )
        sub_id = next(
            (s for s in self.data.subscription_names if s.lower() == subscription.lower()),
            subscription,
        )
        return {
            "id": f"/subscriptions/{sub_id}",
            "subscriptionId": sub_id,
            "tenantId": self.data.tenant_id,
            "displayName": name,
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "Sandbox",
                "spendingLimit": "Off",
            },
            "authorizationSource": "RoleBased",
        }

    @staticmethod
    def _resource_group(subscription: str, name: str, location: str) -> Body:
        return {
            "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        }

    def _page(self, items: Sequence[Any], request: Request, base_url: str) -> Response:
        start = _skip_token_offset(request.query.get("$skipToken", ""))
        page = list(items[start : start + self.page_size])
        body: dict[str, Any] = {"value": page}
        end = start + len(page)
        if end < len(items):
            token = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode()
            query = {k: v for k, v in request.query.items() if k != "$skipToken"}
            query["$skipToken"] = token
            body["nextLink"] = f"{base_url}{request.path}?{urlencode(query, safe='$')}"
        return Response.json(200, body)


def _skip_token_offset(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(token)
        return max(int(offset), 0)
    except ValueError as error:
        raise ArmError(
            400, "InvalidSkipToken", "The $skipToken is not valid for this list."
        ) from error
