"""start_sandbox: every server of the sample fleet and the files clients configure from."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from pathlib import Path

import dns.resolver
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from netaudit.sandbox.kube_api import KubeFaults
from netaudit.sandbox.runner import Sandbox, serve_sandbox, start_sandbox


def refuses_connections(url: str) -> bool:
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_sandbox_serves_the_sample_fleet_and_describes_itself(tmp_path: Path) -> None:
    with start_sandbox(
        tmp_path, kube_faults={"aks-cni-neu": KubeFaults(forbidden={"nodes"})}
    ) as sandbox:
        described = Sandbox.from_json(tmp_path / "sandbox.json")
        assert described == sandbox
        assert (tmp_path / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert sandbox.ca_pem == tmp_path / "ca.pem"
        assert [c.name for c in sandbox.clusters] == [
            "aks-kubenet-weu",
            "aks-cni-neu",
            "aks-overlay-priv-weu",
        ]
        overlay = sandbox.cluster("aks-overlay-priv-weu")
        assert overlay.subscription_id == "bbbbbbbb-0000-0000-0000-000000000002"
        assert overlay.region == "westeurope"
        assert overlay.key == overlay.arm_resource_id.lower()

        kubeconfig = yaml.safe_load(overlay.kubeconfig.read_text())
        assert kubeconfig["clusters"][0]["cluster"]["server"] == overlay.kube_url
        with k8s_config.new_client_from_config(config_file=str(overlay.kubeconfig)) as api:
            assert len(k8s.CoreV1Api(api).list_node().items) == 3
        with urllib.request.urlopen(
            f"{sandbox.cluster('aks-cni-neu').kube_url}/version", timeout=5
        ) as response:
            assert json.loads(response.read())["gitVersion"] == "v1.25.6"
        with pytest.raises(urllib.error.HTTPError) as forbidden:
            urllib.request.urlopen(
                f"{sandbox.cluster('aks-cni-neu').kube_url}/api/v1/nodes", timeout=5
            )
        with forbidden.value as error:
            assert error.code == 403

        resolver = dns.resolver.Resolver(configure=False)
        host, port = sandbox.dns_address
        resolver.nameservers, resolver.port = [host], port
        for name in overlay.dns_probe_names:
            assert resolver.resolve(name, "A").rrset
        urls = [sandbox.arm_url, *(c.kube_url for c in sandbox.clusters)]
    assert all(refuses_connections(url) for url in urls)


def test_serve_sandbox_runs_until_stopped(tmp_path: Path) -> None:
    stop = threading.Event()
    ready: list[Sandbox] = []

    def on_ready(sandbox: Sandbox) -> None:
        ready.append(sandbox)
        stop.set()

    serve_sandbox(tmp_path, on_ready=on_ready, stop=stop)
    assert len(ready) == 1
    assert refuses_connections(ready[0].arm_url)
