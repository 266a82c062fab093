"""``netaudit.agent.kube.Kube`` against a scripted API server on 127.0.0.1.

The server below answers each path with a script (status, headers, body) and
records every request, so paging, 410 restarts, Retry-After and error
mapping are observable at the HTTP level.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from netaudit.agent.errors import (
    ConfigError,
    KubeForbidden,
    KubeGone,
    KubeNotFound,
    KubeTimeout,
    KubeUnavailable,
)
from netaudit.agent.kube import METADATA_ONLY_ACCEPT, Kube

Answer = tuple[int, dict[str, str], Any]
Script = Callable[[dict[str, str], dict[str, str]], Answer]


class ScriptedApi:
    """A loopback HTTP server answering paths from scripts and recording requests."""

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.requests.append((url.path, query, headers))
                script = api.scripts.get(url.path)
                status, extra, body = (
                    script(query, headers)
                    if script
                    else (404, {}, status_body(404, "NotFound", "no route"))
                )
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def pod(name: str, namespace: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}}


def paged(items: list[dict[str, Any]], expire_once: bool = False) -> Script:
    """A list handler that honours limit/continue like the API server."""
    expired = {"done": not expire_once}

    def answer(query: dict[str, str], _headers: dict[str, str]) -> Answer:
        start = int(query.get("continue", "0") or 0)
        if start and not expired["done"]:
            expired["done"] = True
            return (
                410,
                {},
                status_body(410, "Expired", "The provided continue parameter is too old"),
            )
        limit = int(query.get("limit", "0") or 0) or len(items)
        page = items[start : start + limit]
        metadata = {"resourceVersion": "42"}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        return 200, {}, {"kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": page}

    return answer


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    server = ScriptedApi()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def kubeconfig(tmp_path: Path, server: str, token: str = "t0ken") -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "sandbox", "cluster": {"server": server}}],
                "users": [{"name": "agent", "user": {"token": token}}],
                "contexts": [
                    {"name": "sandbox", "context": {"cluster": "sandbox", "user": "agent"}}
                ],
                "current-context": "sandbox",
            }
        )
    )
    return path


@pytest.fixture
def kube(api: ScriptedApi, tmp_path: Path) -> Iterator[Kube]:
    client = Kube.connect(
        kubeconfig(tmp_path, api.url), page_size=2, request_timeout_seconds=2, retries=2
    )
    yield client
    client.close()


def test_lists_are_read_in_pages_with_the_bearer_token(api: ScriptedApi, kube: Kube) -> None:
    api.scripts["/api/v1/pods"] = paged([pod(f"p{i}") for i in range(5)])
    names = [item["metadata"]["name"] for item in kube.list_objects("", "v1", "pods")]
    assert names == ["p0", "p1", "p2", "p3", "p4"]
    queries = [query for path, query, _ in api.requests if path == "/api/v1/pods"]
    assert [q.get("continue") for q in queries] == [None, "2", "4"]
    assert all(q["limit"] == "2" for q in queries)
    assert all(h["authorization"] == "Bearer t0ken" for _, _, h in api.requests)


def test_namespaced_custom_resources_and_label_selectors_use_the_right_path(
    api: ScriptedApi, kube: Kube
) -> None:
    api.scripts["/apis/acn.azure.com/v1alpha/namespaces/kube-system/nodenetworkconfigs"] = paged(
        [pod("nnc")]
    )
    items = list(
        kube.list_objects("acn.azure.com", "v1alpha", "nodenetworkconfigs", "kube-system", "a=b")
    )
    assert len(items) == 1
    assert api.requests[-1][1]["labelSelector"] == "a=b"


def test_an_expired_continue_token_restarts_the_list_once_without_duplicates(
    api: ScriptedApi, kube: Kube
) -> None:
    api.scripts["/api/v1/pods"] = paged([pod(f"p{i}") for i in range(5)], expire_once=True)
    names = [item["metadata"]["name"] for item in kube.list_objects("", "v1", "pods")]
    assert names == ["p0", "p1", "p2", "p3", "p4"]
    continues = [q.get("continue") for path, q, _ in api.requests if path == "/api/v1/pods"]
    assert continues == [None, "2", None, "2", "4"]


def test_a_second_expired_continue_token_gives_up(api: ScriptedApi, kube: Kube) -> None:
    def always_expired(query: dict[str, str], headers: dict[str, str]) -> Answer:
        if query.get("continue"):
            return 410, {}, status_body(410, "Expired", "too old")
        return paged([pod(f"p{i}") for i in range(5)])(query, headers)

    api.scripts["/api/v1/pods"] = always_expired
    with pytest.raises(KubeGone) as raised:
        list(kube.list_objects("", "v1", "pods"))
    assert len(api.requests) == 4  # first page, expired, restart, expired again
    assert raised.value.reason == "expired"
    assert raised.value.message == "the list expired again after one restart: too old"
    assert raised.value.resource == "pods/v1"


def test_a_server_that_ignores_limit_is_read_in_one_page(api: ScriptedApi, kube: Kube) -> None:
    items = [pod(f"p{i}") for i in range(7)]
    api.scripts["/api/v1/pods"] = lambda q, h: (200, {}, {"metadata": {}, "items": items})
    assert len(list(kube.list_objects("", "v1", "pods"))) == 7
    assert len(api.requests) == 1


def test_metadata_only_lists_ask_for_partial_object_metadata(api: ScriptedApi, kube: Kube) -> None:
    api.scripts["/api/v1/namespaces"] = paged([pod("default")])
    list(kube.list_objects("", "v1", "namespaces", metadata_only=True))
    assert api.requests[-1][2]["accept"] == METADATA_ONLY_ACCEPT


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (403, KubeForbidden, "forbidden"),
        (404, KubeNotFound, "not_found"),
        (500, KubeUnavailable, "error"),
    ],
)
def test_api_errors_become_agent_errors_carrying_the_status_message(
    api: ScriptedApi, kube: Kube, status: int, error: type[Exception], reason: str
) -> None:
    message = f'nodes is forbidden: User "agent" cannot list resource "nodes" ({status})'
    api.scripts["/api/v1/nodes"] = lambda q, h: (
        status,
        {},
        status_body(status, "Failure", message),
    )
    with pytest.raises(error) as caught:
        list(kube.list_objects("", "v1", "nodes"))
    assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert caught.value.message == message  # type: ignore[attr-defined]
    assert caught.value.resource == "nodes/v1"  # type: ignore[attr-defined]
    assert not isinstance(caught.value.__cause__, KubeForbidden)
    assert type(caught.value.__cause__).__module__.startswith("kubernetes")


def test_too_many_requests_with_retry_after_is_retried(api: ScriptedApi, kube: Kube) -> None:
    calls = {"n": 0}

    def throttled_once(query: dict[str, str], headers: dict[str, str]) -> Answer:
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "0"}, status_body(429, "TooManyRequests", "slow down")
        return 200, {}, {"gitVersion": "v1.30.6"}

    api.scripts["/version"] = throttled_once
    assert kube.server_version() == "v1.30.6"
    assert calls["n"] == 2


def test_persistent_throttling_ends_as_unavailable(api: ScriptedApi, kube: Kube) -> None:
    api.scripts["/version"] = lambda q, h: (
        429,
        {"Retry-After": "0"},
        status_body(429, "TooManyRequests", "slow down"),
    )
    with pytest.raises(KubeUnavailable):
        kube.server_version()
    assert len(api.requests) == 3  # retries=2


def test_a_slow_server_is_a_timeout(api: ScriptedApi, tmp_path: Path) -> None:
    def slow(query: dict[str, str], headers: dict[str, str]) -> Answer:
        time.sleep(1.0)
        return 200, {}, {"gitVersion": "v1"}

    api.scripts["/version"] = slow
    with (
        Kube.connect(kubeconfig(tmp_path, api.url), request_timeout_seconds=0.2, retries=0) as kube,
        pytest.raises(KubeTimeout),
    ):
        kube.server_version()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    port = closed_port()
    with (
        Kube.connect(kubeconfig(tmp_path, f"http://127.0.0.1:{port}"), retries=0) as kube,
        pytest.raises(KubeUnavailable, match=f"127.0.0.1:{port}"),
    ):
        kube.server_version()


def test_discovery_tells_served_resources_and_unserved_groups(api: ScriptedApi, kube: Kube) -> None:
    api.scripts["/apis/cilium.io/v2"] = lambda q, h: (
        200,
        {},
        {
            "kind": "APIResourceList",
            "resources": [{"name": "ciliumnetworkpolicies"}, {"name": "ciliumnodes"}],
        },
    )
    assert kube.served_resources("cilium.io", "v2") == {"ciliumnetworkpolicies", "ciliumnodes"}
    assert kube.is_served("cilium.io", "v2", "ciliumnetworkpolicies")
    assert not kube.is_served("cilium.io", "v2", "ciliumidentities")
    assert kube.served_resources("acn.azure.com", "v1alpha") is None
    assert not kube.is_served("acn.azure.com", "v1alpha")


def test_get_object_and_pod_log_tail(api: ScriptedApi, kube: Kube) -> None:
    api.scripts["/api/v1/namespaces/kube-system/configmaps/coredns"] = lambda q, h: (
        200,
        {},
        {"metadata": {"name": "coredns"}, "data": {"Corefile": ".:53 {}"}},
    )
    api.scripts["/api/v1/namespaces/kube-system/pods/coredns-1/log"] = lambda q, h: (
        200,
        {},
        f"tail={q.get('tailLines')} container={q.get('container')}",
    )
    assert (
        kube.get_object("", "v1", "configmaps", "coredns", "kube-system")["data"]["Corefile"]
        == ".:53 {}"
    )
    assert kube.pod_log("kube-system", "coredns-1", 50, "coredns") == "tail=50 container=coredns"
    with pytest.raises(KubeNotFound):
        kube.get_object("", "v1", "configmaps", "absent", "kube-system")


def test_a_missing_kubeconfig_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=str(missing)):
        Kube.connect(missing)


def test_a_kubeconfig_without_the_context_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load"):
        Kube.connect(kubeconfig(tmp_path, "http://127.0.0.1:1"), context="absent")
