"""CNI evidence: ip-masq-agent / CNS ConfigMaps, networking CRDs, add-on workloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers.cni import (
    MalformedConfig,
    addon_workloads,
    cns_config,
    ip_masq_agent_config,
    is_network_crd,
    network_crds,
)
from tests.conftest import SHARED_FIXTURES

CNI = SHARED_FIXTURES / "k8s" / "cni"


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "kube-system"}, "data": data}


# Hand-made: the reconciled ip-masq-agent ConfigMap's shape as dumped from AKS
# clusters (incluster.md §3); no published copy exists in the fixtures.
IP_MASQ_NODE_SUBNET = config_map(
    "azure-ip-masq-agent-config-reconciled",
    {
        "ip-masq-agent-reconciled": "nonMasqueradeCIDRs:\n  - 10.224.0.0/16\n  - 10.0.0.0/16\n"
        "  - 10.224.0.0/12\nmasqLinkLocal: true\n"
    },
)


def test_ip_masq_agent_config_lists_non_masquerade_cidrs() -> None:
    message = ip_masq_agent_config(IP_MASQ_NODE_SUBNET)
    assert message.config_map == "azure-ip-masq-agent-config-reconciled"
    assert list(message.non_masquerade_cidrs) == ["10.224.0.0/16", "10.0.0.0/16", "10.224.0.0/12"]
    assert message.masq_link_local is True


def test_ip_masq_agent_config_merges_keys_and_defaults_masq_link_local_off() -> None:
    message = ip_masq_agent_config(
        config_map(
            "azure-ip-masq-agent-config",
            {
                "a": "nonMasqueradeCIDRs: [10.244.0.0/16]",
                "b": "nonMasqueradeCIDRs: [10.244.0.0/16, 192.168.0.0/16]",
            },
        )
    )
    assert list(message.non_masquerade_cidrs) == ["10.244.0.0/16", "192.168.0.0/16"]
    assert message.masq_link_local is False


def test_ip_masq_agent_config_that_is_not_yaml_is_malformed() -> None:
    with pytest.raises(MalformedConfig):
        ip_masq_agent_config(config_map("azure-ip-masq-agent-config", {"k": "a: [unclosed"}))


@pytest.mark.parametrize(
    ("fixture", "channel_mode"),
    [
        ("cns_configuration_cns_config.json", "Direct"),
        ("cns_configuration_testdata_good.json", "Direct"),
    ],
)
def test_cns_config_reads_channel_mode_from_the_published_cns_config(
    fixture: str, channel_mode: str
) -> None:
    raw = (CNI / fixture).read_text()
    message = cns_config(config_map("cns-config", {"cns_config.json": raw}))
    assert message.config_map == "cns-config"
    assert message.channel_mode == channel_mode
    assert message.cni_conflist_scenario == ""  # these published configs set none


def test_cns_config_reads_the_conflist_scenario() -> None:
    raw = '{"ChannelMode": "CRD", "CNIConflistScenario": "v4overlay"}'
    message = cns_config(config_map("cns-config", {"cns_config.json": raw}))
    assert (message.channel_mode, message.cni_conflist_scenario) == ("CRD", "v4overlay")


def test_cns_config_that_is_not_json_is_malformed() -> None:
    with pytest.raises(MalformedConfig):
        cns_config(config_map("cns-config", {"cns_config.json": "{nope"}))


@pytest.mark.parametrize("path", sorted(CNI.glob("crd_*.yaml")), ids=lambda p: Path(p).name)
def test_published_acn_crds_count_as_networking_crds(path: Path) -> None:
    crd = yaml.safe_load(path.read_text())
    assert network_crds([crd]) == [crd["metadata"]["name"]]


@pytest.mark.parametrize(
    ("name", "networking"),
    [
        ("ciliumnetworkpolicies.cilium.io", True),
        ("gateways.gateway.networking.k8s.io", True),
        ("applicationloadbalancers.alb.networking.azure.io", True),
        ("installations.operator.tigera.io", True),
        ("certificates.cert-manager.io", False),
        ("prometheusrules.monitoring.coreos.com", False),
        ("nodenetworkconfigs.acn.azure.com.evil.example", False),
    ],
)
def test_networking_crds_are_recognised_by_api_group(name: str, networking: bool) -> None:
    assert is_network_crd(name) is networking


def daemonset(namespace: str, name: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": {"k8s-app": name}},
        "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"desiredNumberScheduled": 3, "numberReady": 2, "numberAvailable": 2},
    }


def test_addon_workloads_keep_kube_system_and_calico_namespaces_only() -> None:
    workloads = addon_workloads(
        deployments=[
            {
                "metadata": {"namespace": "tigera-operator", "name": "tigera-operator"},
                "spec": {
                    "replicas": 1,
                    "template": {
                        "spec": {
                            "containers": [{"image": "mcr.microsoft.com/oss/tigera/operator:v1.30"}]
                        }
                    },
                },
                "status": {"readyReplicas": 1, "availableReplicas": 1},
            },
            {"metadata": {"namespace": "shop", "name": "web"}, "spec": {}},
        ],
        daemonsets=[
            daemonset(
                "kube-system", "azure-cns", "mcr.microsoft.com/containernetworking/azure-cns:v1.6"
            ),
            daemonset("calico-system", "calico-node", "mcr.microsoft.com/oss/calico/node:v3.28"),
            daemonset("monitoring", "node-exporter", "quay.io/prometheus/node-exporter"),
        ],
    )
    by_name = {w.name: w for w in workloads}
    assert set(by_name) == {"azure-cns", "calico-node", "tigera-operator"}
    cns = by_name["azure-cns"]
    assert cns.kind == "DaemonSet"
    assert list(cns.images) == ["mcr.microsoft.com/containernetworking/azure-cns:v1.6"]
    assert (cns.desired_replicas, cns.ready_replicas, cns.available_replicas) == (3, 2, 2)
    assert by_name["tigera-operator"].kind == "Deployment"
    assert by_name["tigera-operator"].desired_replicas == 1
