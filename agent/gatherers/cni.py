"""CNI evidence: network add-on workloads, ip-masq-agent and CNS ConfigMaps,
networking CRD names. Which model they mean is decided by the collector."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import as_dict, as_list, name_of, namespace_of, workload
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

DEPLOYMENTS = Resource("apps", "v1", "deployments")
DAEMONSETS = Resource("apps", "v1", "daemonsets")
CONFIGMAPS = Resource("", "v1", "configmaps")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")

# kube-system holds AKS's own add-ons; Calico's operator installs into the other two.
ADDON_NAMESPACES = ("kube-system", "calico-system", "tigera-operator")
CONFIG_NAMESPACE = "kube-system"
IP_MASQ_CONFIG_MAPS = ("azure-ip-masq-agent-config-reconciled", "azure-ip-masq-agent-config")
CNS_CONFIG_MAP = "cns-config"
CNS_CONFIG_KEY = "cns_config.json"
NETWORK_CRD_GROUPS = (
    "acn.azure.com",
    "multitenancy.acn.azure.com",
    "cilium.io",
    "crd.projectcalico.org",
    "projectcalico.org",
    "operator.tigera.io",
    "policy.networking.k8s.io",
    "gateway.networking.k8s.io",
    "gateway.networking.x-k8s.io",
    "alb.networking.azure.io",
    "approuting.kubernetes.azure.com",
    "appgw.ingress.k8s.io",
    "appgw.ingress.azure.io",
    "externaldns.k8s.io",
)


class MalformedConfig(ValueError):
    """A ConfigMap value that does not parse as the add-on expects."""


def is_network_crd(name: str) -> bool:
    """Whether a CRD name (``plural.group``) belongs to a networking API group."""
    group = name.split(".", 1)[1] if "." in name else ""
    return group in NETWORK_CRD_GROUPS


def network_crds(crds: Iterable[KubeObject]) -> list[str]:
    return sorted(name for name in map(name_of, crds) if is_network_crd(name))


def addon_workloads(
    deployments: Iterable[KubeObject], daemonsets: Iterable[KubeObject]
) -> list[report_pb2.Workload]:
    """Workloads in kube-system and the network add-on namespaces."""
    found = [workload(d, "DaemonSet") for d in daemonsets if namespace_of(d) in ADDON_NAMESPACES]
    found += [workload(d, "Deployment") for d in deployments if namespace_of(d) in ADDON_NAMESPACES]
    return found


def ip_masq_agent_config(config_map: KubeObject) -> report_pb2.IpMasqAgentConfig:
    """nonMasqueradeCIDRs / masqLinkLocal from every key of an ip-masq-agent ConfigMap."""
    cidrs: list[str] = []
    masq_link_local = False
    for key, value in as_dict(config_map.get("data")).items():
        try:
            parsed = yaml.safe_load(str(value))
        except yaml.YAMLError as error:
            raise MalformedConfig(f"key {key} is not YAML: {error}") from error
        parsed = as_dict(parsed)
        cidrs += [str(c) for c in as_list(parsed.get("nonMasqueradeCIDRs")) if str(c) not in cidrs]
        masq_link_local = masq_link_local or parsed.get("masqLinkLocal") is True
    return report_pb2.IpMasqAgentConfig(
        config_map=name_of(config_map),
        non_masquerade_cidrs=cidrs,
        masq_link_local=masq_link_local,
    )


def cns_config(config_map: KubeObject) -> report_pb2.CnsConfig:
    """ChannelMode and CNIConflistScenario of the CNS ConfigMap's ``cns_config.json``."""
    data = as_dict(config_map.get("data"))
    raw = data.get(CNS_CONFIG_KEY)
    parsed: Mapping[str, Any] = {}
    if raw is not None:
        try:
            parsed = as_dict(json.loads(str(raw)))
        except ValueError as error:
            raise MalformedConfig(f"{CNS_CONFIG_KEY} is not JSON: {error}") from error
    return report_pb2.CnsConfig(
        config_map=name_of(config_map),
        channel_mode=str(parsed.get("ChannelMode", "")),
        cni_conflist_scenario=str(parsed.get("CNIConflistScenario", "")),
    )


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    evidence = report.cni
    deployments = reads.list(DEPLOYMENTS) or []
    daemonsets = reads.list(DAEMONSETS) or []
    evidence.workloads.extend(addon_workloads(deployments, daemonsets))
    for name in IP_MASQ_CONFIG_MAPS:
        config_map = reads.get(CONFIGMAPS, name, CONFIG_NAMESPACE)
        if config_map is not None:
            evidence.ip_masq_agent_configs.extend(
                reads.each([config_map], ip_masq_agent_config, f"configmaps {CONFIG_NAMESPACE}")
            )
    config_map = reads.get(CONFIGMAPS, CNS_CONFIG_MAP, CONFIG_NAMESPACE)
    if config_map is not None:
        for converted in reads.each([config_map], cns_config, f"configmaps {CONFIG_NAMESPACE}"):
            evidence.cns_config.CopyFrom(converted)
    crds = reads.list(CRDS, metadata_only=True)
    if crds is not None:
        evidence.crds.extend(network_crds(crds))


GATHERER = Gatherer(
    name="cni",
    reads=(
        access_for(DEPLOYMENTS),
        access_for(DAEMONSETS),
        access_for(
            CONFIGMAPS,
            verbs=("get",),
            names=(*IP_MASQ_CONFIG_MAPS, CNS_CONFIG_MAP),
            namespace=CONFIG_NAMESPACE,
        ),
        access_for(CRDS),
    ),
    gather=gather,
)
