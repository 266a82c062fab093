"""The sample fleet's known problems come out of its data: ARM bodies through the converter,
Kubernetes objects through the agent's own converters, then every registered rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers import coredns as coredns_gatherer
from netaudit.agent.gatherers import gateway_api
from netaudit.collector.inventory import convert
from netaudit.collector.rules import RULES, Outcome, RuleSettings, evaluate_cluster
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT, load_sample_fleet
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

ARM = DEFAULT_FLEET_ROOT / "arm"
GATHERED_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d] if path.is_file() else []


def arm_bodies(folder: str) -> list[dict[str, Any]]:
    bodies = []
    for path in sorted((ARM / folder).rglob("*.json")):
        data = json.loads(path.read_text())
        bodies.extend(data.get("value", [data]))
    return bodies


def inventory(cluster_id: str) -> inventory_pb2.ClusterInventory:
    (body,) = [
        b for b in arm_bodies("resources/managedclusters") if b["id"].lower() == cluster_id.lower()
    ]
    result = convert.cluster_inventory(body)
    used = {p.vnet_subnet_id.lower() for p in result.agent_pools}
    usages = arm_bodies("usages")
    for vnet in arm_bodies("resources/network"):
        subnets = [s for s in convert.subnets_of_virtual_network(vnet) if s.id.lower() in used]
        if subnets:
            result.subnets.extend(subnets)
            rows = [u for u in usages if u["id"].lower().startswith(vnet["id"].lower() + "/")]
            result.virtual_networks.append(convert.virtual_network(vnet, rows))
    return result


def report(kube_dir: Path) -> report_pb2.Report:
    result = report_pb2.Report()
    result.gathered_at.FromDatetime(GATHERED_AT)
    for document in documents(kube_dir / "coredns-config.yaml"):
        name = document["metadata"]["name"]
        if name == "coredns":
            result.coredns.corefile = coredns_gatherer.corefile(document)
        elif name == "coredns-custom":
            result.coredns.custom.extend(coredns_gatherer.custom_fragments(document))
    for document in documents(kube_dir / "gateway-api.yaml"):
        if document["kind"] == "Gateway":
            result.gateway_api.gateways.append(gateway_api.gateway(document))
    return result


EXPECTED = {
    "aks-cni-neu": {("CNI-001", "403"), ("CNI-002", "0.988")},
    "aks-kubenet-weu": {("KUB-001", "")},
    "aks-overlay-priv-weu": {
        ("PDN-001", ""),
        ("DNS-002", "forward"),
        ("GWA-002", "AddressNotAssigned"),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_cluster_gets_its_known_findings_and_no_rule_fails(name: str) -> None:
    cluster = load_sample_fleet().cluster(name)
    facts = audit_pb2.ClusterFacts(
        cluster_key=cluster.key,
        inventory=inventory(cluster.arm_resource_id),
        report=report(cluster.kube_dir),
    )
    facts.evaluated_at.FromDatetime(GATHERED_AT)
    facts.report_received_at.FromDatetime(GATHERED_AT)
    evaluation = evaluate_cluster(facts, RuleSettings(), RULES)
    assert [(o.rule_id, o.reason) for o in evaluation.outcomes if o.outcome is Outcome.ERROR] == []
    found = {
        (
            f.rule_id,
            f.evidence.get("required")
            or f.evidence.get("ratio")
            or f.evidence.get("plugins")
            or f.evidence.get("programmed.reason", ""),
        )
        for f in evaluation.findings
    }
    assert found >= EXPECTED[name]
