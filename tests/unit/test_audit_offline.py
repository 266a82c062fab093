"""The offline audit's joins (dump folders and report files to managed clusters) and its
in-memory fleet-wide step, on the sample fleet's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from netaudit.agent.dump import load_dump, report_from_dump
from netaudit.agent.summary import write_report
from netaudit.audit.errors import InputError
from netaudit.audit.inputs import load_inputs
from netaudit.audit.offline import FLEET_REASON, FleetClaims, audit_fleet, with_fleet_findings
from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.engine import FleetEvaluation
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT
from netaudit.v1 import audit_pb2, report_pb2

ARM = DEFAULT_FLEET_ROOT / "arm"
KUBE = DEFAULT_FLEET_ROOT / "kube"
KUBENET = "aks-kubenet-weu"
KUBENET_FILE = "resources/managedclusters/aks-kubenet-weu.json"


def k8s_folder(tmp_path: Path, *names: str) -> Path:
    """Dump folders of sample clusters (their objects as YAML, read like kubectl output)."""
    root = tmp_path / "k8s"
    for name in names:
        shutil.copytree(KUBE / name, root / name)
    return root


def arm_with_a_namesake(tmp_path: Path) -> Path:
    """The sample fleet's ARM files plus a second aks-kubenet-weu in another resource group
    (a copy of the first, its id changed)."""
    folder = Path(shutil.copytree(ARM, tmp_path / "arm"))
    body = json.loads((folder / KUBENET_FILE).read_text())
    body["id"] = body["id"].replace("rg-platform-weu", "rg-platform-dr")
    (folder / "namesake.json").write_text(json.dumps(body))
    return folder


def test_dump_folders_join_their_cluster_by_name(tmp_path: Path) -> None:
    inputs = load_inputs(ARM, k8s_folder(tmp_path, KUBENET, "aks-cni-neu"))
    assert inputs.warnings == []
    assert sorted(r.cluster.arm_resource_id.rsplit("/", 1)[-1] for r in inputs.reports) == [
        "aks-cni-neu",
        KUBENET,
    ]
    kubenet = next(r for r in inputs.reports if r.cluster.name == KUBENET)
    assert kubenet.cluster.region == "westeurope"
    assert len(kubenet.nodes) == 3


def test_a_name_two_clusters_share_needs_a_cluster_id_file(tmp_path: Path) -> None:
    arm = arm_with_a_namesake(tmp_path)
    k8s = k8s_folder(tmp_path, KUBENET)
    inputs = load_inputs(arm, k8s)
    assert inputs.reports == []
    (warning,) = inputs.warnings
    assert warning.startswith(f"{k8s / KUBENET}: 2 managed clusters are named {KUBENET}")
    assert "rg-platform-dr, rg-platform-weu" in warning and "cluster-id" in warning
    dr_id = json.loads((arm / "namesake.json").read_text())["id"]
    (k8s / KUBENET / "cluster-id").write_text(dr_id)
    inputs = load_inputs(arm, k8s)
    assert inputs.warnings == []
    (report,) = inputs.reports
    assert report.cluster.arm_resource_id == dr_id


def test_a_dump_of_an_unknown_cluster_is_audited_without_arm_facts(tmp_path: Path) -> None:
    k8s = k8s_folder(tmp_path, KUBENET)
    (k8s / KUBENET).rename(k8s / "lab-cluster")
    inputs = load_inputs(ARM, k8s)
    (warning,) = inputs.warnings
    assert warning.startswith(f"{k8s / 'lab-cluster'}: no managed cluster in the ARM files")
    audit = audit_fleet(inputs.inventories, inputs.reports)
    lab = audit.cluster("lab-cluster")
    assert dict(lab.not_assessed)["CNI-001"].startswith("no inventory from Azure Resource Manager")
    assert len(audit.clusters) == 4, "every cluster found is in the output"


def test_report_files_join_by_name_and_the_newest_report_wins(tmp_path: Path) -> None:
    dump = load_dump(KUBE / KUBENET)
    older = report_from_dump(dump, report_pb2.ClusterIdentity(name=KUBENET))
    newer = report_from_dump(dump, report_pb2.ClusterIdentity(name=KUBENET))
    older.gathered_at.FromSeconds(newer.gathered_at.seconds - 3600)
    write_report(older, tmp_path / "older.json")
    write_report(newer, tmp_path / "newer.pb")
    (tmp_path / "junk.pb").write_bytes(b"\x00not a report")
    files = [tmp_path / "newer.pb", tmp_path / "junk.pb", tmp_path / "older.json"]
    inputs = load_inputs(ARM, report_files=files)
    (report,) = inputs.reports
    assert report.report_id == newer.report_id
    assert report.cluster.arm_resource_id.endswith(f"/managedClusters/{KUBENET}")
    assert len(inputs.warnings) == 2
    assert str(tmp_path / "junk.pb") in inputs.warnings[0]
    assert inputs.warnings[1].startswith(f"{tmp_path / 'older.json'} and {tmp_path / 'newer.pb'}")


def test_missing_input_folders_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_inputs(tmp_path / "no-arm")
    with pytest.raises(InputError):
        load_inputs(ARM, tmp_path / "no-k8s")


# -- the fleet-wide step in memory ----------------------------------------------------------


def subnet_claim(cluster: str, subnet: str) -> audit_pb2.FleetClaim:
    return audit_pb2.FleetClaim(
        cluster_name=cluster, subnet=audit_pb2.SubnetClaim(subnet_id=subnet)
    )


def dns_claim(owner: str) -> audit_pb2.FleetClaim:
    return audit_pb2.FleetClaim(external_dns=audit_pb2.ExternalDnsClaim(owner_id=owner))


def test_claims_are_shared_by_several_clusters_or_for_externaldns_several_claims() -> None:
    claims = FleetClaims()
    claims.add("b", [subnet_claim("b", "s1"), subnet_claim("b", "s2"), dns_claim("team")])
    claims.add("a", [subnet_claim("a", "s1"), dns_claim("solo"), dns_claim("solo")])
    claims.add("c", [subnet_claim("c", "s2"), subnet_claim("c", "s2")])
    shared = dict(claims.shared("subnet", False))
    assert sorted(shared) == ["s1", "s2"]
    assert [c.cluster_key for c in shared["s1"]] == ["a", "b"], "claims in cluster order"
    assert [c.cluster_key for c in shared["s2"]] == ["b", "c", "c"]
    assert [r for r, _ in claims.shared("external_dns", True)] == ["solo"]
    assert list(claims.shared("external_dns", False)) == []
    assert list(claims.shared("route_table", False)) == []


def finding(rule: str, resource: str, message: str) -> audit_pb2.Finding:
    return audit_pb2.Finding(rule_id=rule, cluster_key="k", resource=resource, message=message)


def test_fleet_findings_join_the_outcomes_as_the_store_records_them() -> None:
    own = finding("CNI-001", "s1", "own")
    outcomes = (
        RuleOutcome("CNI-001", Outcome.FINDINGS, "", (own, finding("CNI-001", "s9", "other"))),
        RuleOutcome("CNI-003", Outcome.PASSED),
        RuleOutcome("CNI-010", Outcome.NOT_ASSESSED, "no inventory"),
    )
    fleet = FleetEvaluation(
        ("CNI-001", "CNI-003"),
        (
            finding("CNI-001", "s1", "shared"),
            finding("CNI-003", "s1", "shared too"),
            audit_pb2.Finding(rule_id="CNI-003", cluster_key="other", resource="s1"),
        ),
        groups=1,
    )
    merged = {o.rule_id: o for o in with_fleet_findings(outcomes, "k", fleet)}
    assert [f.message for f in merged["CNI-001"].findings] == ["shared", "other"]
    assert merged["CNI-001"].reason == ""
    assert merged["CNI-003"].outcome is Outcome.FINDINGS
    assert merged["CNI-003"].reason == FLEET_REASON
    assert [f.message for f in merged["CNI-003"].findings] == ["shared too"]
    assert merged["CNI-010"] == outcomes[2]
