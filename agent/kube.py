"""The agent's only door to the Kubernetes API (the only importer of ``kubernetes``).

Reads go through ``ApiClient.param_serialize`` + ``call_api`` with the raw
response parsed by ``json.loads``: kubernetes 37.x is a strict pydantic client
whose model layer is ~20x slower than the JSON itself and rejects objects that
miss optional-in-practice fields, so no model is ever built here. Every
library error becomes one of the agent's own (``errors.Kube*``), raised from
the original, so gatherers never see a kubernetes type.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from netaudit.agent.errors import (
    ConfigError,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeNotFound,
    KubeTimeout,
    KubeUnauthorized,
    KubeUnavailable,
)

log = logging.getLogger(__name__)

KubeObject = dict[str, Any]

DEFAULT_PAGE_SIZE = 500
"""Objects per list page: the API server's own chunking default in kubectl."""

# Real API servers answer this with PartialObjectMetadataList (names, labels,
# annotations only); servers that do not know it fall back to full JSON.
METADATA_ONLY_ACCEPT = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


def resource_path(
    group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None
) -> str:
    """The REST path of a collection or object (core group when ``group`` is empty)."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{plural}"
    if name:
        base += f"/{quote(name, safe='')}"
    return base


def resource_label(group: str, version: str, plural: str) -> str:
    """How a resource is named in gaps and errors: ``plural.group/version``."""
    return f"{plural}/{version}" if not group else f"{plural}.{group}/{version}"


class Kube:
    """Read-only Kubernetes API access returning plain dicts."""

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        request_timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 5.0,
    ) -> None:
        self._api = api_client
        self._page_size = page_size
        self._timeout = (connect_timeout_seconds, request_timeout_seconds)

    @classmethod
    def connect(
        cls,
        kubeconfig: Path | None = None,
        context: str | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        request_timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 5.0,
        retries: int = 5,
    ) -> Kube:
        """Load a kubeconfig (``kubeconfig`` or the default), or the in-cluster config.

        An explicit path wins; inside a Pod (``KUBERNETES_SERVICE_HOST`` set)
        the service-account token is used; otherwise ``$KUBECONFIG`` or
        ``~/.kube/config``.
        """
        configuration = k8s_client.Configuration()
        try:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                k8s_config.load_kube_config(
                    config_file=str(kubeconfig) if kubeconfig else None,
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError) as error:
            where = (
                str(kubeconfig)
                if kubeconfig
                else "the default kubeconfig ($KUBECONFIG or ~/.kube/config; or pass --kubeconfig)"
            )
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise ConfigError(f"cannot load {where}: {detail}") from error
        # client-go semantics: GETs honour Retry-After on 429/5xx, a bounded number of times.
        configuration.client_go_retries = True
        configuration.retries = retries
        return cls(
            k8s_client.ApiClient(configuration),
            page_size=page_size,
            request_timeout_seconds=request_timeout_seconds,
            connect_timeout_seconds=connect_timeout_seconds,
        )

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------

    def server_version(self) -> str:
        """``gitVersion`` of ``/version`` (e.g. ``v1.31.2``)."""
        body = self._get_json("/version", [], "version")
        return str(body.get("gitVersion", ""))

    def served_resources(self, group: str, version: str) -> set[str] | None:
        """Plural names served under group/version, or None when it is not served."""
        path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        try:
            body = self._get_json(path, [], resource_label(group, version, "*"))
        except KubeNotFound:
            return None
        return {str(item.get("name", "")) for item in body.get("resources", []) or []}

    def is_served(self, group: str, version: str, plural: str | None = None) -> bool:
        """Whether the API server serves group/version (and ``plural`` in it, if given)."""
        served = self.served_resources(group, version)
        if served is None:
            return False
        return plural is None or plural in served

    def get_object(
        self, group: str, version: str, plural: str, name: str, namespace: str | None = None
    ) -> KubeObject:
        """One object; raises ``KubeNotFound`` when it does not exist."""
        path = resource_path(group, version, plural, namespace, name)
        return self._get_json(path, [], resource_label(group, version, plural))

    def list_objects(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        metadata_only: bool = False,
        field_selector: str | None = None,
    ) -> Iterator[KubeObject]:
        """Every object of a kind, read in pages of ``limit`` with ``continue``.

        An expired continue token (410 Gone) restarts the list from its first
        page, once; objects already yielded are not yielded again. The fresh
        continue token a 410 may carry is not used: it continues at the latest
        revision, an inconsistent list. A second expiry raises ``KubeGone``
        (gap reason ``expired``).
        """
        label = resource_label(group, version, plural)
        path = resource_path(group, version, plural, namespace)
        accept = METADATA_ONLY_ACCEPT if metadata_only else "application/json"
        seen: set[str] = set()
        restarted = False
        continue_token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", self._page_size)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if continue_token:
                query.append(("continue", continue_token))
            try:
                page = self._get_json(path, query, label, accept=accept)
            except KubeGone as error:
                if continue_token is None:
                    raise
                if restarted:
                    raise KubeGone(
                        label,
                        f"the list expired again after one restart: {error.message}",
                        error.status,
                    ) from error
                log.info("list %s: continue token expired, restarting the list", label)
                restarted, continue_token = True, None
                continue
            for item in page.get("items", []) or []:
                key = _object_key(item)
                if key in seen:
                    continue
                seen.add(key)
                yield item
            continue_token = (page.get("metadata") or {}).get("continue") or None
            if not continue_token:
                return

    def pod_log(
        self, namespace: str, name: str, tail_lines: int, container: str | None = None
    ) -> str:
        """The last ``tail_lines`` lines of a Pod's (current) log."""
        path = resource_path("", "v1", "pods", namespace, name) + "/log"
        query: list[tuple[str, Any]] = [("tailLines", tail_lines)]
        if container:
            query.append(("container", container))
        data = self._get(path, query, "pods/log", accept="text/plain, */*")
        return data.decode("utf-8", errors="replace")

    def pod_proxy_get(
        self,
        namespace: str,
        name: str,
        port: int,
        path: str,
        timeout_seconds: float | None = None,
    ) -> bytes:
        """GET ``path`` on a Pod's ``port`` through the API server's pod proxy
        (``pods/proxy``): the Pod's own HTTP endpoint (e.g. CoreDNS's ``:9153/metrics``)
        reached without the agent needing a route to the pod network. ``timeout_seconds``
        bounds the read (default: the client's request timeout)."""
        target = resource_path("", "v1", "pods", namespace, name) + f":{int(port)}/proxy/"
        target += quote(path.lstrip("/"), safe="/")
        timeout = None if timeout_seconds is None else (self._timeout[0], timeout_seconds)
        return self._get(target, [], "pods/proxy", accept="text/plain, */*", timeout=timeout)

    # -- transport -----------------------------------------------------------

    def _get_json(
        self,
        path: str,
        query: list[tuple[str, Any]],
        resource: str,
        accept: str = "application/json",
    ) -> KubeObject:
        data = self._get(path, query, resource, accept=accept)
        try:
            body = _parse_json(data)
        except ValueError as error:
            raise KubeUnavailable(resource, f"answer is not JSON: {error}") from error
        if not isinstance(body, dict):
            raise KubeUnavailable(resource, "answer is not a JSON object")
        return body

    def _get(
        self,
        path: str,
        query: list[tuple[str, Any]],
        resource: str,
        *,
        accept: str,
        timeout: tuple[float, float] | None = None,
    ) -> bytes:
        method, url, headers, _body, _post = self._api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                method, url, header_params=headers, _request_timeout=timeout or self._timeout
            )
            data = response.read()
        except ApiException as error:
            raise _from_api_exception(error, resource) from error
        except urllib3.exceptions.MaxRetryError as error:
            raise _from_connection_error(error.reason, resource, self.host) from error
        except (urllib3.exceptions.HTTPError, TimeoutError) as error:
            raise _from_connection_error(error, resource, self.host) from error
        except OSError as error:
            raise KubeUnavailable(resource, f"cannot reach {self.host}: {error}") from error
        if not 200 <= response.status <= 299:
            api_error = ApiException(http_resp=response)
            raise _from_api_exception(api_error, resource) from api_error
        return bytes(data)


def _parse_json(data: bytes) -> Any:
    """``json.loads`` with the cyclic GC paused: a list page is ~10^5 new containers, which
    trigger collections that re-scan every live object (the report, the folds' state) while
    the parse itself makes no cycles; perf.md §3 measured 6x on a 10 MB list."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(data)
    finally:
        if enabled:
            gc.enable()


def _from_connection_error(reason: BaseException | None, resource: str, host: str) -> KubeError:
    # NewConnectionError (refused, no route) subclasses ConnectTimeoutError in urllib3.
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return KubeUnavailable(resource, f"cannot reach {host}: connection failed")
    if isinstance(reason, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return KubeTimeout(resource, f"no answer from {host} in time")
    return KubeUnavailable(resource, f"cannot reach {host}: {reason}")


def _object_key(item: KubeObject) -> str:
    metadata = item.get("metadata") or {}
    uid = metadata.get("uid")
    if uid:
        return str(uid)
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def _status_message(error: ApiException) -> str:
    """The ``message`` of a Kubernetes Status body, else the HTTP reason."""
    body = error.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return f"HTTP {error.status} {error.reason or ''}".strip()


def _from_api_exception(error: ApiException, resource: str) -> KubeError:
    status = int(error.status or 0)
    message = _status_message(error)
    if status == 403:
        return KubeForbidden(resource, message, status)
    if status == 401:
        return KubeUnauthorized(resource, f"credentials refused: {message}", status)
    if status == 404:
        return KubeNotFound(resource, message, status)
    if status == 410:
        return KubeGone(resource, message, status)
    if status == 504:
        return KubeTimeout(resource, message, status)
    if status == 0:
        return KubeUnavailable(resource, str(error.reason or "connection failed"), None)
    return KubeUnavailable(resource, message, status)
