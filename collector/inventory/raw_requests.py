"""ARM GETs the pinned management SDKs have no operation for (role assignments, resource
providers, AGC associations), sent through an existing client's pipeline so they share its
credential, base URL, TLS trust, retry policy (Retry-After on 429) and request counting.

Errors are raised as the SDK operations raise them (``ResourceNotFoundError`` for 404,
``ClientAuthenticationError`` for 401, ``HttpResponseError`` with ARM's error code
otherwise), so the reader turns them into gaps the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.core.exceptions import ARMErrorFormat

Payload = dict[str, Any]

ERROR_MAP = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}
MAX_PAGES = 1000
"""A bound on nextLink pages of one list, so a server that keeps answering the same link
cannot keep a refresh busy."""


class SendsRequests(Protocol):
    """A generated management client (``NetworkManagementClient``, ...)."""

    def send_request(self, request: HttpRequest, *, stream: bool = False, **kwargs: Any) -> Any: ...


def get_json(client: SendsRequests, path: str, params: dict[str, str]) -> Payload:
    """GET ``path`` (an ARM path such as ``/subscriptions/<s>/providers/<namespace>``)."""
    response = client.send_request(HttpRequest("GET", path, params=params))
    return _body(response)


def list_json(client: SendsRequests, path: str, params: dict[str, str]) -> list[Payload]:
    """Every ``value`` item of a list, following ``nextLink``."""
    items: list[Payload] = []
    request = HttpRequest("GET", path, params=params)
    for _ in range(MAX_PAGES):
        body = _body(client.send_request(request))
        items.extend(item for item in body.get("value") or () if isinstance(item, dict))
        next_link = body.get("nextLink")
        if not next_link:
            return items
        request = HttpRequest("GET", str(next_link))
    raise HttpResponseError(message=f"{path}: more than {MAX_PAGES} pages of nextLink")


def _body(response: HttpResponse) -> Payload:
    if response.status_code != 200:
        map_error(status_code=response.status_code, response=response, error_map=ERROR_MAP)
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    payload = response.json()
    if not isinstance(payload, dict):
        raise HttpResponseError(response=response, message="ARM answered with a non-object body")
    return payload
