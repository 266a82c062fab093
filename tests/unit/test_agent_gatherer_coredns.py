"""CoreDNS evidence from the published ConfigMaps and manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers.coredns import (
    autoscaler_config,
    coredns_deployments,
    corefile,
    custom_fragments,
    log_container,
    reload_errors,
)
from tests.conftest import SHARED_FIXTURES

COREDNS = SHARED_FIXTURES / "k8s" / "coredns"
CUSTOM = sorted(COREDNS.glob("aks_coredns-custom_*.yaml"))


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((COREDNS / name).read_text()) if d]


@pytest.mark.parametrize("path", CUSTOM, ids=lambda p: Path(p).name)
def test_every_coredns_custom_key_is_kept_with_its_content(path: Path) -> None:
    (config_map,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    fragments = custom_fragments(config_map)
    assert [f.key for f in fragments] == sorted(config_map["data"])
    for fragment in fragments:
        assert fragment.content == config_map["data"][fragment.key]
        assert fragment.key.endswith((".server", ".override"))


def test_hosts_override_fragment_content_survives_its_odd_indentation() -> None:
    (config_map,) = load("aks_coredns-custom_hosts-override.yaml")
    (fragment,) = custom_fragments(config_map)
    assert fragment.key == "test.override"
    assert "10.0.0.1 example1.org" in fragment.content
    assert "fallthrough" in fragment.content


@pytest.mark.parametrize(
    "name",
    [
        "k8sdocs_coredns-configmap_default.yaml",
        "k8sdocs_coredns-configmap_stubdomain-upstream.yaml",
    ],
)
def test_corefile_comes_from_the_coredns_config_map(name: str) -> None:
    (config_map,) = load(name)
    text = corefile(config_map)
    assert text.startswith(".:53 {")
    assert "forward ." in text


def test_coredns_deployment_from_the_upstream_addon_manifest() -> None:
    documents = load("kubernetes_coredns.yaml.base")
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    (workload,) = coredns_deployments(deployments)
    assert (workload.namespace, workload.name) == ("kube-system", "coredns")
    assert list(workload.images) == ["registry.k8s.io/coredns/coredns:v1.14.2"]
    assert list(workload.args) == ["-conf", "/etc/coredns/Corefile"]
    assert workload.desired_replicas == 1  # replicas unset: the API default
    assert workload.labels["k8s-app"] == "kube-dns"


def test_only_kube_system_coredns_deployments_are_kept() -> None:
    elsewhere = {"metadata": {"namespace": "dns", "name": "coredns"}}
    other = {"metadata": {"namespace": "kube-system", "name": "metrics-server"}}
    assert coredns_deployments([elsewhere, other]) == []


def test_autoscaler_ladder_is_kept_verbatim() -> None:
    # Hand-made from the AKS default documented in coredns-autoscale.md (domain.md §3.3).
    ladder = (
        '{"coresToReplicas":[[1,2],[512,3],[1024,4],[2048,5]],'
        '"nodesToReplicas":[[1,2],[8,3],[16,4],[32,5]]}'
    )
    config = autoscaler_config(
        {"metadata": {"name": "coredns-autoscaler"}, "data": {"ladder": ladder}}
    )
    assert config == {"ladder": ladder}


def test_reload_errors_are_the_lines_that_say_reload_or_restart_failed() -> None:
    # Hand-made log in CoreDNS's format; the two messages are CoreDNS's own (plugin/reload).
    log = "\n".join(
        [
            "[INFO] plugin/reload: Running configuration SHA512 = 1b226df79",
            "[ERROR] plugin/reload: Corefile changed but reload failed: starting with listener "
            "file descriptors: plugin/forward: this plugin can only be used once per Server Block",
            '[INFO] 10.244.0.7:40334 - 1 "A IN kubernetes.default.svc.cluster.local. udp" NOERROR',
            "[ERROR] Restart failed: plugin/forward: this plugin can only be used once per "
            "Server Block",
        ]
    )
    errors = reload_errors(log, "coredns-abc")
    assert len(errors) == 2
    assert errors[0].startswith(
        "coredns-abc: [ERROR] plugin/reload: Corefile changed but reload failed"
    )
    assert errors[1] == (
        "coredns-abc: [ERROR] Restart failed: plugin/forward: this plugin can only be used once "
        "per Server Block"
    )
    assert reload_errors("[INFO] all good\n", "coredns-abc") == []


def test_log_container_is_named_only_when_the_pod_has_several() -> None:
    single = {"spec": {"containers": [{"name": "coredns"}]}}
    sidecar = {"spec": {"containers": [{"name": "coredns"}, {"name": "istio-proxy"}]}}
    assert log_container(single) is None
    assert log_container(sidecar) == "coredns"
