"""The file-backed Kubernetes reader: ``kubectl get ... -o json`` output (Lists or single
objects, any file names) read through the agent's own gatherers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.agent.dump import (
    NOT_IN_DUMP,
    DumpReader,
    KubeNotInDump,
    dumped_kinds,
    load_dump,
    report_from_dump,
)
from netaudit.agent.errors import ConfigError, KubeNotFound
from netaudit.agent.selectors import SelectorError, field_matcher, label_matcher
from netaudit.collector.rules import RULES_BY_ID, Outcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.view import ClusterView
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT
from netaudit.v1 import audit_pb2, report_pb2

KUBE = DEFAULT_FLEET_ROOT / "kube"
KUBENET_ID = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-platform-weu/"
    "providers/Microsoft.ContainerService/managedClusters/aks-kubenet-weu"
)


def sample_objects(cluster: str) -> list[dict[str, Any]]:
    """The sample cluster's objects (hand-made, see sandbox/fleet_data/MANIFEST.md)."""
    return [
        doc
        for path in sorted((KUBE / cluster).glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def kubectl_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``kubectl get KIND -A -o json`` prints."""
    return {"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {}}


def write_dump(folder: Path, cluster: str, *, leave_out: tuple[str, ...] = ()) -> Path:
    """The sample cluster as kubectl would dump it: one List per kind, in oddly named files."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in sample_objects(cluster):
        by_kind.setdefault(obj["kind"], []).append(obj)
    folder.mkdir(parents=True, exist_ok=True)
    for index, (kind, objects) in enumerate(sorted(by_kind.items())):
        if kind not in leave_out:
            (folder / f"dump-{index}.json").write_text(json.dumps(kubectl_list(objects)))
    shutil.copy(KUBE / cluster / "version.json", folder / "server-version.json")
    return folder


def report_of(folder: Path, cluster_id: str = KUBENET_ID) -> report_pb2.Report:
    identity = report_pb2.ClusterIdentity(arm_resource_id=cluster_id, name=folder.name)
    return report_from_dump(load_dump(folder), identity)


def gaps(report: report_pb2.Report) -> set[tuple[str, str, str]]:
    return {(g.gatherer, g.resource.split(" ")[0], g.reason) for g in report.gaps}


def outcome(rule_id: str, report: report_pb2.Report) -> tuple[Outcome, str]:
    facts = audit_pb2.ClusterFacts(cluster_key=KUBENET_ID.lower())
    facts.report.CopyFrom(report)
    result = evaluate_rule(RULES_BY_ID[rule_id], ClusterView(facts), RuleSettings())
    return result.outcome, result.reason


def test_a_sample_cluster_folder_of_yaml_objects_is_a_dump() -> None:
    dump = load_dump(KUBE / "aks-kubenet-weu")
    assert dump.warnings == []
    assert DumpReader(dump).server_version() == "v1.30.6"
    report = report_of(KUBE / "aks-kubenet-weu")
    assert report.cluster.kubernetes_version == "v1.30.6"
    assert len(report.nodes) == 3
    assert report.services.services_total == 5
    assert list(report.coredns.probes) == []
    assert ("coredns", "pods/log", NOT_IN_DUMP) in gaps(report)


def test_kubectl_lists_in_any_file_names_give_the_same_report(tmp_path: Path) -> None:
    from_yaml = report_of(KUBE / "aks-kubenet-weu")
    from_lists = report_of(write_dump(tmp_path / "aks-kubenet-weu", "aks-kubenet-weu"))
    for section in ("nodes", "cni", "services", "network_policies", "coredns", "ingress"):
        assert getattr(from_lists, section) == getattr(from_yaml, section), section
    assert gaps(from_lists) == gaps(from_yaml)


def test_a_kind_with_no_file_is_a_gap_and_its_rules_are_not_assessed(tmp_path: Path) -> None:
    report = report_of(write_dump(tmp_path / "c", "aks-kubenet-weu", leave_out=("ConfigMap",)))
    assert ("coredns", "configmaps/v1", NOT_IN_DUMP) in gaps(report)
    verdict, reason = outcome("DNS-002", report)
    assert verdict is Outcome.NOT_ASSESSED
    assert "not in the dump" in reason and "configmaps" in reason


def test_an_empty_list_named_after_its_kind_means_none_exist(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu", leave_out=("NetworkPolicy",))
    (folder / "crds.json").write_text(json.dumps(kubectl_list([])))  # no Cilium policies
    assert ("network_policies", "networkpolicies.networking.k8s.io/v1", NOT_IN_DUMP) in gaps(
        report_of(folder)
    )
    (folder / "netpol.json").write_text(json.dumps(kubectl_list([])))
    report = report_of(folder)
    assert not any(g.resource.startswith("networkpolicies") for g in report.gaps)
    assert list(report.network_policies) == []


def test_an_empty_list_named_otherwise_is_a_warning(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu")
    (folder / "output-7.json").write_text(json.dumps(kubectl_list([])))
    (warning,) = load_dump(folder).warnings
    assert warning.startswith(f"{folder / 'output-7.json'}: an empty List does not say its kind")


def test_a_typed_empty_list_from_the_api_says_its_kind(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu", leave_out=("NetworkPolicy",))
    (folder / "customresourcedefinitions.yaml").write_text(yaml.safe_dump(kubectl_list([])))
    typed = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": []}
    (folder / "whatever.json").write_text(json.dumps(typed))
    assert not any(g.resource.startswith("networkpolicies") for g in report_of(folder).gaps)


def test_malformed_and_foreign_files_are_one_warning_each(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu")
    (folder / "broken.json").write_text('{"kind": "List", "items": [')
    (folder / "notes.yaml").write_text("owner: platform team\n")
    (folder / "logs.txt").write_text("not read")
    dump = load_dump(folder)
    assert sorted(w.split(": ", 1)[0] for w in dump.warnings) == [
        str(folder / "broken.json"),
        str(folder / "notes.yaml"),
    ]
    assert len(report_from_dump(dump, report_pb2.ClusterIdentity()).nodes) == 3


def test_custom_kinds_follow_the_dumped_crds(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu")
    unknown = report_of(folder)
    assert ("gateway_api", "gatewayclasses.gateway.networking.k8s.io/v1", NOT_IN_DUMP) in gaps(
        unknown
    )
    assert outcome("GWA-002", unknown)[0] is Outcome.NOT_ASSESSED
    # The dump's CRD list (empty) says no Gateway API is installed: none exist.
    (folder / "crds.json").write_text(json.dumps(kubectl_list([])))
    installed_none = report_of(folder)
    assert ("gateway_api", "gateways.gateway.networking.k8s.io", "not_found") in gaps(
        installed_none
    )
    assert outcome("GWA-002", installed_none)[0] is Outcome.PASSED


def test_reads_a_cluster_with_gateway_crds_and_their_objects() -> None:
    report = report_of(KUBE / "aks-overlay-priv-weu")
    (gateway,) = report.gateway_api.gateways
    assert gateway.name == "gateway-01"
    assert len(report.nodes) == 3 and all(n.HasField("node_network_config") for n in report.nodes)
    assert report.agc.application_load_balancers


def test_get_list_and_selectors_answer_as_the_api_server(tmp_path: Path) -> None:
    reader = DumpReader(load_dump(write_dump(tmp_path / "c", "aks-kubenet-weu")))
    coredns = list(reader.list_objects("", "v1", "pods", "kube-system", "k8s-app=kube-dns"))
    assert len(coredns) == 2
    running = reader.list_objects("", "v1", "pods", field_selector="status.phase!=Running")
    assert list(running) == []
    assert reader.get_object("", "v1", "configmaps", "coredns", "kube-system")["data"]
    with pytest.raises(KubeNotFound):
        reader.get_object("", "v1", "configmaps", "coredns-custom-missing", "kube-system")
    with pytest.raises(KubeNotInDump):
        list(reader.list_objects("", "v1", "endpoints"))
    with pytest.raises(KubeNotInDump):
        reader.pod_log("kube-system", "coredns-x", 10)


def test_selectors() -> None:
    obj = {"metadata": {"name": "a", "labels": {"app": "web", "tier": "front"}}, "spec": {}}
    assert label_matcher("app=web,tier in (front, back),!canary")(obj)
    assert not label_matcher("app notin (web)")(obj)
    assert label_matcher("tier")(obj) and not label_matcher("zone")(obj)
    assert field_matcher("metadata.name=a,spec.nodeName!=n1")(obj)
    assert label_matcher(None)(obj) and field_matcher("")(obj)
    with pytest.raises(SelectorError):
        field_matcher("metadata.name")


def test_the_cluster_id_file_and_a_missing_folder(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu")
    (folder / "cluster-id").write_text(KUBENET_ID + "\n")
    assert load_dump(folder).cluster_id == KUBENET_ID
    with pytest.raises(ConfigError, match="not a folder"):
        load_dump(tmp_path / "nowhere")


def test_a_dump_without_version_output_is_an_identity_gap(tmp_path: Path) -> None:
    folder = write_dump(tmp_path / "c", "aks-kubenet-weu")
    (folder / "server-version.json").unlink()
    report = report_of(folder)
    assert report.cluster.kubernetes_version == ""
    assert ("identity", "version", NOT_IN_DUMP) in gaps(report)


def test_dumped_kinds_are_what_the_gatherers_list() -> None:
    kinds = dumped_kinds()
    assert {"nodes", "pods", "configmaps", "deployments.apps"} <= set(kinds)
    assert "gateways.gateway.networking.k8s.io" in kinds
    assert not any("/" in kind for kind in kinds)
