"""A read-only Kubernetes API server on loopback, fed by YAML fixtures.

It speaks the real REST API closely enough for kubectl and the official
``kubernetes`` client: discovery, list/get (cluster-wide and per namespace),
label and field selectors, ``limit``/``continue`` pagination, server-side
printing (Table, with CRDs' printer columns), pod logs, the pod proxy (a pod's HTTP
endpoint served from a fixture file), a short watch stream, EndpointSlices derived
from Services and Pods (kube_endpointslices.py) and ``kubectl auth can-i`` answered by
the same check that authorizes requests (kube_reviews.py). It mimics behaviour that
matters to clients: a list with ``resourceVersion=0`` is served "from cache"
and ignores ``limit``, unknown CRD groups answer 404 with a Status body, and
faults (403 Forbidden, 410 Gone on continue, 429 with Retry-After) can be
injected. Every list request's query is recorded (``list_requests``) so tests
can see how a client lists.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
import threading
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netaudit.sandbox.kube_objects import (
    EncodedObjects,
    KubeObjectStore,
    KubeStore,
    Object,
    object_key,
)
from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.kube_resources import ResourceType
from netaudit.sandbox.kube_reviews import GROUP, REVIEWS, VERSION, InvalidReview, answer_review
from netaudit.sandbox.kube_selectors import SelectorError, field_matcher, label_matcher
from netaudit.sandbox.kube_tables import partial_metadata, table
from netaudit.sandbox.lifecycle import Lifecycle
from netaudit.sandbox.loopback_http import LoopbackHttpServer, Request, Response

logger = logging.getLogger(__name__)

DEFAULT_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.6",
    "gitCommit": "00f20d443ba0cd9d2cb3b6e1e5b4bb0b12e2a0d1",
    "gitTreeState": "clean",
    "buildDate": "2026-10-15T10:00:00Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)
# What the API server says when etcd compacted the revision a continue token lists at; the
# Status then carries a fresh token that continues at the latest revision.
INCONSISTENT_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)
# The revision of such a fresh token: "continue at the latest revision" (-1, not 0, which
# a token without a revision would decode to).
LATEST_REVISION = "-1"
# Most list requests remembered in ``list_requests`` (a 150,000-pod list is 300 pages).
LIST_REQUESTS_KEPT = 10_000
# A watch without timeoutSeconds ends after this long; clients re-list and watch again.
DEFAULT_WATCH_SECONDS = 30
MAX_WATCH_SECONDS = 300


@dataclass(frozen=True)
class KubeFaults:
    """Failures to inject. Resources are named as kubectl does: ``pods``, ``deployments.apps``,
    ``nodenetworkconfigs.acn.azure.com``."""

    # Every request for these resources answers 403 Forbidden.
    forbidden: Collection[str] = ()
    # Lists of these resources hand out continue tokens that have already expired (410 Gone).
    expiring_continue: Collection[str] = ()
    # The first N continue requests of each resource named here answer 410 Gone, as after an
    # etcd compaction: the token was fresh, its revision is gone.
    continue_expiries: Mapping[str, int] = field(default_factory=dict)
    # The first N list/get requests (any resource) answer 429 with Retry-After.
    too_many_requests: int = 0
    retry_after_seconds: int = 1
    # Pods (by name) whose endpoints behind the pod proxy answer only after this many
    # seconds: a hung /metrics, for the agent's read timeout.
    slow_pod_proxies: Mapping[str, float] = field(default_factory=dict)
    # Who the Forbidden message says was refused.
    user: str = "system:serviceaccount:netaudit:netaudit-agent"


class _ApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        list_metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}
        self.list_metadata = list_metadata or {}

    def response(self, headers: dict[str, str] | None = None) -> Response:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.list_metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }
        return Response.json(self.code, body, headers)


def _not_found_path() -> _ApiError:
    return _ApiError(404, "NotFound", "the server could not find the requested resource")


@dataclass(frozen=True)
class _Target:
    resource: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None
    # What follows ``.../proxy/`` in a pod proxy request (``metrics``).
    proxy_path: str = ""


def _encode_continue(resource: ResourceType, revision: str, start: str) -> str:
    token = {
        "v": "meta.k8s.io/v1",
        "rv": int(revision),
        "start": start,
        "r": resource.qualified_name,
    }
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _compacted(resource: ResourceType, start: str) -> _ApiError:
    """410 Gone for a token whose revision etcd compacted, with the fresh token the API
    server hands out to continue (inconsistently) at the latest revision."""
    fresh = _encode_continue(resource, LATEST_REVISION, start)
    return _ApiError(
        410, "Expired", INCONSISTENT_CONTINUE_MESSAGE, list_metadata={"continue": fresh}
    )


def _decode_continue(resource: ResourceType, token: str) -> str:
    """The key the next page starts after; 410 Gone for tokens this server did not hand out."""
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        start = decoded["start"]
        if decoded.get("v") != "meta.k8s.io/v1" or decoded.get("r") != resource.qualified_name:
            raise ValueError("token for another list")
        if not isinstance(start, str):
            raise ValueError("bad start key")
        return start
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise _ApiError(410, "Expired", EXPIRED_MESSAGE) from error


class KubeApiServer(Lifecycle):
    """Serves one cluster's fixtures over plain HTTP at ``.url``."""

    def __init__(
        self,
        fixture_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: KubeFaults | None = None,
        rbac: RbacPolicy | None = None,
        store: KubeStore | None = None,
    ) -> None:
        self.fixture_dir = Path(fixture_dir)
        # ``store`` serves objects not (only) from the fixtures: a generated large cluster.
        self.store: KubeStore = store or KubeObjectStore.load(self.fixture_dir)
        self.faults = faults or KubeFaults()
        # When set, requests its roles do not grant answer 403, as RBAC would.
        self.rbac = rbac
        self._version = self._load_version()
        self._throttle_lock = threading.Lock()
        self._throttle_remaining = self.faults.too_many_requests
        self._expiries_left = dict(self.faults.continue_expiries)
        # (resource as kubectl names it, query) of every list, oldest first.
        self.list_requests: deque[tuple[str, dict[str, str]]] = deque(maxlen=LIST_REQUESTS_KEPT)
        self._stopping = threading.Event()
        self._http = LoopbackHttpServer(self.handle, host, port)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

    def start(self) -> None:
        self._stopping.clear()
        self._http.start()
        logger.info("Kubernetes API for %s listening on %s", self.fixture_dir.name, self.url)

    def stop(self) -> None:
        self._stopping.set()
        self._http.stop()

    def _load_version(self) -> dict[str, str]:
        path = self.fixture_dir / "version.json"
        if not path.is_file():
            return dict(DEFAULT_VERSION)
        return {**DEFAULT_VERSION, **json.loads(path.read_text(encoding="utf-8"))}

    # -- routing ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except _ApiError as error:
            headers = None
            if error.code == 429:
                headers = {"Retry-After": str(self.faults.retry_after_seconds)}
            return error.response(headers)

    def _route(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if request.method == "POST" and parts[:3] == ["apis", GROUP, VERSION]:
            return self._review(parts[3:], request)
        if request.method not in ("GET", "HEAD"):
            raise _ApiError(405, "MethodNotAllowed", "the sandbox API server is read-only")
        non_resource = self._non_resource(parts)
        if non_resource is not None:
            if not self._path_allowed("get", request.path):
                raise _ApiError(
                    403,
                    "Forbidden",
                    f'forbidden: User "{self.faults.user}" cannot get path "{request.path}"',
                )
            return non_resource
        target = self._target(parts)
        if not target.resource.readable:
            raise _ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        self._inject_faults(target, request)
        if target.subresource == "log":
            return self._pod_log(target, request)
        if target.subresource == "proxy":
            return self._pod_proxy(target)
        if target.subresource is not None:
            raise _not_found_path()
        if target.name is None:
            if request.query.get("watch") in ("1", "true"):
                return self._watch(target, request)
            return self._list(target, request)
        return self._get(target, request)

    def _non_resource(self, parts: list[str]) -> Response | None:
        """Version, health and discovery: the paths outside the API's resources."""
        if parts == ["version"]:
            return Response.json(200, self._version)
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return Response.text(200, "ok")
        discovery = self._discovery(parts)
        return None if discovery is None else Response.json(200, discovery)

    def _path_allowed(self, verb: str, path: str) -> bool:
        return self.rbac is None or self.rbac.allows_non_resource(verb, path)

    def _discovery(self, parts: list[str]) -> dict[str, Any] | None:
        catalogue = self.store.catalogue
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self._address()}
                ],
            }
        if parts == ["api", "v1"]:
            return catalogue.api_resource_list("", "v1")
        if parts == ["apis"]:
            return catalogue.api_group_list()
        if len(parts) == 2 and parts[0] == "apis":
            return catalogue.api_group(parts[1]) or self._raise(_not_found_path())
        if len(parts) == 3 and parts[0] == "apis":
            return catalogue.api_resource_list(parts[1], parts[2]) or self._raise(_not_found_path())
        return None

    @staticmethod
    def _raise(error: _ApiError) -> dict[str, Any]:
        raise error

    def _address(self) -> str:
        return f"{self._http.host}:{self._http.port}"

    def _target(self, parts: list[str]) -> _Target:
        if len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found_path()
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        proxy_path = ""
        if len(rest) > 3 and rest[2] == "proxy":
            rest, proxy_path = rest[:3], "/".join(rest[3:])
        if len(rest) > 3:
            raise _not_found_path()
        resource = self.store.catalogue.lookup(group, version, rest[0])
        if resource is None or (namespace is not None and not resource.namespaced):
            raise _not_found_path()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        return _Target(resource, version, namespace, name, subresource, proxy_path)

    def _inject_faults(self, target: _Target, request: Request) -> None:
        resource = target.resource
        verb = "list" if target.name is None else "get"
        if request.query.get("watch") in ("1", "true"):
            verb = "watch"
        rbac_resource = resource.plural + (f"/{target.subresource}" if target.subresource else "")
        if not self.allowed(verb, resource.group, rbac_resource, target.namespace, target.name):
            raise self._forbidden(target, verb, rbac_resource)
        with self._throttle_lock:
            throttled = self._throttle_remaining > 0
            if throttled:
                self._throttle_remaining -= 1
        if throttled:
            raise _ApiError(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                {"retryAfterSeconds": self.faults.retry_after_seconds},
            )

    def allowed(
        self, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> bool:
        """Whether the caller may do this here: the RBAC policy when one is set, and the
        injected 403s. Requests and access reviews (``kubectl auth can-i``) both ask this."""
        base = resource.partition("/")[0]
        if (f"{base}.{group}" if group else base) in self.faults.forbidden:
            return False
        return self.rbac is None or self.rbac.allows(verb, group, resource, namespace, name)

    def _review(self, parts: list[str], request: Request) -> Response:
        """POST of a SelfSubjectAccessReview or SelfSubjectRulesReview."""
        if len(parts) != 1 or parts[0] not in REVIEWS:
            raise _ApiError(405, "MethodNotAllowed", "the sandbox API server is read-only")
        if not self.allowed("create", GROUP, parts[0], None, None):
            raise _ApiError(
                403,
                "Forbidden",
                f'{parts[0]}.{GROUP} is forbidden: User "{self.faults.user}" cannot create'
                f' resource "{parts[0]}" in API group "{GROUP}" at the cluster scope',
            )
        try:
            answer = answer_review(
                parts[0],
                request.header("Content-Type"),
                request.body,
                self.allowed,
                self._path_allowed,
                self.rbac,
                self.faults.forbidden,
            )
        except InvalidReview as error:
            raise _ApiError(422, "Invalid", str(error)) from error
        except ValueError as error:
            raise _ApiError(400, "BadRequest", f"cannot decode the review: {error}") from error
        return Response.json(201, answer)

    def _forbidden(self, target: _Target, verb: str, rbac_resource: str) -> _ApiError:
        resource = target.resource
        scope = (
            f'in the namespace "{target.namespace}"' if target.namespace else "at the cluster scope"
        )
        details: dict[str, Any] = {"kind": resource.plural}
        if resource.group:
            details["group"] = resource.group
        if target.name:
            details["name"] = target.name
        subject = resource.qualified_name + (f' "{target.name}"' if target.name else "")
        message = (
            f'{subject} is forbidden: User "{self.faults.user}" cannot {verb} resource'
            f' "{rbac_resource}" in API group "{resource.group}" {scope}'
        )
        return _ApiError(403, "Forbidden", message, details)

    # -- reads ------------------------------------------------------------------------------

    def _served(self, obj: Object, target: _Target, keep_type: bool) -> Object:
        # Only top-level keys change: a shallow copy keeps the stored object intact.
        served = dict(obj)
        if keep_type or target.resource.custom:
            served["apiVersion"] = target.resource.api_version(target.version)
            served["kind"] = target.resource.kind
        else:
            served.pop("apiVersion", None)
            served.pop("kind", None)
        return served

    def _get(self, target: _Target, request: Request) -> Response:
        assert target.name is not None
        obj = self.store.get(target.resource, target.namespace, target.name)
        if obj is None:
            raise _ApiError(
                404,
                "NotFound",
                f'{target.resource.qualified_name} "{target.name}" not found',
                {"name": target.name, "kind": target.resource.plural}
                | ({"group": target.resource.group} if target.resource.group else {}),
            )
        served = self._served(obj, target, keep_type=True)
        accept = request.header("Accept")
        if "as=Table" in accept:
            metadata = {"resourceVersion": served["metadata"].get("resourceVersion", "")}
            return Response.json(
                200,
                table(
                    target.resource,
                    target.version,
                    [served],
                    metadata,
                    request.query.get("includeObject", "Metadata"),
                ),
            )
        if "as=PartialObjectMetadata" in accept:
            return Response.json(200, partial_metadata(served))
        return Response.json(200, served)

    def _matching(self, target: _Target, request: Request) -> Sequence[Object]:
        labels, fields = (
            request.query.get("labelSelector", ""),
            request.query.get("fieldSelector", ""),
        )
        indexed = self.store.indexed(target.resource, target.namespace, labels, fields)
        if indexed is not None:
            return indexed
        objects = self.store.objects(target.resource, target.namespace)
        try:
            if request.query.get("labelSelector"):
                matches = label_matcher(request.query["labelSelector"])
                objects = [o for o in objects if matches(o)]
            if request.query.get("fieldSelector"):
                matches = field_matcher(request.query["fieldSelector"], target.resource.plural)
                objects = [o for o in objects if matches(o)]
        except SelectorError as error:
            raise _ApiError(400, "BadRequest", str(error)) from error
        return objects

    def _list(self, target: _Target, request: Request) -> Response:
        self.list_requests.append((target.resource.qualified_name, dict(request.query)))
        objects = self._matching(target, request)
        token = request.query.get("continue", "")
        revision = request.query.get("resourceVersion", "")
        if token and revision:
            raise _ApiError(
                400, "BadRequest", "specifying resource version is not allowed when using continue"
            )
        if token:
            start = _decode_continue(target.resource, token)
            if self._continue_expired(target.resource):
                raise _compacted(target.resource, start)
            # Objects are sorted by key: the page starts right after the token's key.
            objects = objects[bisect.bisect_right(objects, start, key=object_key) :]
        metadata: dict[str, Any] = {"resourceVersion": self.store.resource_version}
        limit = self._limit(request)
        # The API server serves resourceVersion=0 from its watch cache, which ignores limit.
        if limit and revision != "0" and len(objects) > limit:
            remaining = len(objects) - limit
            objects = objects[:limit]
            metadata["continue"] = _encode_continue(
                target.resource, self.store.resource_version, object_key(objects[-1])
            )
            if not request.query.get("labelSelector") and not request.query.get("fieldSelector"):
                metadata["remainingItemCount"] = remaining
        accept = request.header("Accept")
        if "as=Table" in accept:
            served = [self._served(o, target, keep_type=True) for o in objects]
            body = table(
                target.resource,
                target.version,
                served,
                metadata,
                request.query.get("includeObject", "Metadata"),
            )
            return Response.json(200, body)
        if "as=PartialObjectMetadataList" in accept:
            items = [partial_metadata(o) for o in objects]
            return Response.json(
                200,
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": metadata,
                    "items": items,
                },
            )
        api_version = target.resource.api_version(target.version)
        body = {"kind": target.resource.list_kind, "apiVersion": api_version, "metadata": metadata}
        if isinstance(objects, EncodedObjects):
            # Generated objects come as JSON text: spliced in, not decoded and encoded again.
            typed = api_version if target.resource.custom else None
            encoded = objects.json_items(typed, target.resource.kind)
            head = json.dumps(body, separators=(",", ":"))[:-1]
            return Response(200, f'{head},"items":[{encoded}]}}'.encode())
        body["items"] = [self._served(o, target, keep_type=False) for o in objects]
        return Response.json(200, body)

    def _continue_expired(self, resource: ResourceType) -> bool:
        if resource.qualified_name in self.faults.expiring_continue:
            return True
        with self._throttle_lock:
            left = self._expiries_left.get(resource.qualified_name, 0)
            if left > 0:
                self._expiries_left[resource.qualified_name] = left - 1
            return left > 0

    @staticmethod
    def _limit(request: Request) -> int:
        raw = request.query.get("limit", "")
        if not raw:
            return 0
        try:
            return max(int(raw), 0)
        except ValueError as error:
            raise _ApiError(400, "BadRequest", f"invalid limit {raw!r}") from error

    def _watch(self, target: _Target, request: Request) -> Response:
        objects = self._matching(target, request)
        try:
            seconds = float(request.query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        except ValueError as error:
            raise _ApiError(400, "BadRequest", "invalid timeoutSeconds") from error
        seconds = min(max(seconds, 0.0), MAX_WATCH_SECONDS)
        bookmarks = request.query.get("allowWatchBookmarks") in ("1", "true")
        revision = request.query.get("resourceVersion", "")
        # A watch from a given resourceVersion sees no change: the fixtures never change.
        initial = [] if revision not in ("", "0") else objects

        def events() -> Iterator[bytes]:
            for obj in initial:
                event = {"type": "ADDED", "object": self._served(obj, target, keep_type=True)}
                yield json.dumps(event).encode() + b"\n"
            if bookmarks:
                bookmark = {
                    "kind": target.resource.kind,
                    "apiVersion": target.resource.api_version(target.version),
                    "metadata": {"resourceVersion": self.store.resource_version},
                }
                yield json.dumps({"type": "BOOKMARK", "object": bookmark}).encode() + b"\n"
            self._stopping.wait(seconds)

        return Response(200, content_type="application/json", stream=events())

    def _pod_log(self, target: _Target, request: Request) -> Response:
        if (
            target.resource.qualified_name != "pods"
            or target.namespace is None
            or target.name is None
        ):
            raise _not_found_path()
        pod = self.store.get(target.resource, target.namespace, target.name)
        if pod is None:
            raise _ApiError(
                404,
                "NotFound",
                f'pods "{target.name}" not found',
                {"name": target.name, "kind": "pods"},
            )
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.query.get("container")
        if container is None and len(containers) > 1:
            raise _ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {target.name},"
                f" choose one of: [{' '.join(containers)}]",
            )
        if container is not None and container not in containers:
            raise _ApiError(
                400, "BadRequest", f"container {container} is not valid for pod {target.name}"
            )
        text = self._log_text(target.namespace, target.name)
        tail = request.query.get("tailLines")
        if tail is not None and tail.lstrip("-").isdigit():
            lines = text.splitlines(keepends=True)
            count = int(tail)
            text = "".join(lines[-count:]) if count > 0 else ""
        return Response.text(200, text)

    def _pod_proxy(self, target: _Target) -> Response:
        """``GET pods/<name>[:<port>]/proxy/<path>``: the file
        ``proxy/<namespace>/<pod>/<port>/<path>`` (or ``<path>.txt``) of the fixtures, as
        the pod would answer; 503 as the API server's dial error when the pod serves
        nothing there."""
        if (
            target.resource.qualified_name != "pods"
            or target.namespace is None
            or target.name is None
        ):
            raise _not_found_path()
        name, _, port = target.name.partition(":")
        delay = self.faults.slow_pod_proxies.get(name)
        if delay:
            self._stopping.wait(delay)
        pod = self.store.get(target.resource, target.namespace, name)
        if pod is None:
            raise _ApiError(
                404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}
            )
        port = port or "80"
        pod_ip = (pod.get("status") or {}).get("podIP")
        if not pod_ip:
            raise _ApiError(503, "ServiceUnavailable", f'pod "{name}" has no IP address')
        folder = self.fixture_dir / "proxy" / target.namespace / name / port
        for candidate in (target.proxy_path, f"{target.proxy_path}.txt"):
            path = folder / candidate
            inside = path.resolve().is_relative_to(folder.resolve())
            if candidate and inside and path.is_file():
                return Response.text(200, path.read_text(encoding="utf-8"))
        raise _ApiError(
            503,
            "ServiceUnavailable",
            f"error trying to reach service: dial tcp {pod_ip}:{port}: connect: connection refused",
        )

    def _log_text(self, namespace: str, pod: str) -> str:
        for suffix in (".log", ".txt"):
            path = self.fixture_dir / "logs" / namespace / f"{pod}{suffix}"
            if path.is_file():
                return path.read_text(encoding="utf-8")
        return ""
