"""What an offline audit reads: ARM files (``--arm``), Kubernetes dumps (``--k8s``) and agent
snapshot files (``--report``), joined per cluster.

A dump folder or a report that carries no ARM id is joined to the managed cluster of
the same name in the ARM files; a ``cluster-id`` file in a dump folder settles names
that repeat across resource groups. What cannot be joined or read is a warning naming
the file or folder, and the rest is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netaudit.agent.config import GatherSettings
from netaudit.agent.dump import DUMP_SUFFIXES, load_dump, report_from_dump
from netaudit.agent.errors import AgentError
from netaudit.agent.report import agent_version
from netaudit.agent.summary import read_report
from netaudit.audit.arm_files import read_arm_files
from netaudit.audit.errors import InputError
from netaudit.v1 import inventory_pb2, report_pb2

log = logging.getLogger(__name__)


CLUSTER_ID_HINT = "a cluster-id file holding the ARM id of its managed cluster joins it"
SNAPSHOT_ID_HINT = "a snapshot taken with --cluster-id ARM_ID joins it"


@dataclass
class AuditInputs:
    inventories: list[inventory_pb2.ClusterInventory] = field(default_factory=list)
    reports: list[report_pb2.Report] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, line: str) -> None:
        log.warning("%s", line)
        self.warnings.append(line)


@dataclass(frozen=True)
class _Sourced:
    report: report_pb2.Report
    source: Path


def load_inputs(
    arm: Path | None = None,
    k8s: Path | None = None,
    report_files: Sequence[Path] = (),
    gather: GatherSettings | None = None,
) -> AuditInputs:
    """Everything the audit reads; one report per cluster (the newest when several are)."""
    inputs = AuditInputs()
    if arm is not None:
        files = read_arm_files(arm)
        inputs.inventories, inputs.warnings = files.inventories, list(files.warnings)
    sourced: list[_Sourced] = []
    for path in report_files:
        report = _report_file(path, inputs)
        if report is not None:
            sourced.append(_Sourced(report, path))
    if k8s is not None:
        sourced += _dump_reports(k8s, inputs, gather)
    inputs.reports = _newest_per_cluster(sourced, inputs)
    return inputs


def report_key(report: report_pb2.Report) -> str:
    """The cluster a report belongs to: its ARM id, lower-cased (else its name)."""
    return (report.cluster.arm_resource_id or report.cluster.name).strip().lower()


def _report_file(path: Path, inputs: AuditInputs) -> report_pb2.Report | None:
    try:
        report = read_report(path)
    except AgentError as error:
        inputs.warn(str(error))
        return None
    if not report.cluster.arm_resource_id:
        inventory = _match(path, report.cluster.name, "", inputs, SNAPSHOT_ID_HINT)
        if inventory is not None:
            report.cluster.arm_resource_id = inventory.arm_resource_id
    return report


def _dump_reports(
    folder: Path, inputs: AuditInputs, gather: GatherSettings | None
) -> list[_Sourced]:
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of Kubernetes dumps (one folder per cluster)")
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DUMP_SUFFIXES]
    if loose:
        inputs.warn(
            f"{folder}: {len(loose)} file(s) directly in it were left out; it holds one "
            "folder per cluster"
        )
    reports = []
    for cluster_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            dump = load_dump(cluster_folder)
        except AgentError as error:
            inputs.warn(f"{cluster_folder}: {error}")
            continue
        if not dump.cluster_id and len(_named(cluster_folder.name, inputs)) > 1:
            _match(cluster_folder, cluster_folder.name, "", inputs, CLUSTER_ID_HINT)
            continue  # a name several clusters share: warned, not guessed
        inventory = _match(cluster_folder, cluster_folder.name, dump.cluster_id, inputs)
        identity = report_pb2.ClusterIdentity(
            arm_resource_id=inventory.arm_resource_id if inventory else dump.cluster_id,
            name=inventory.name if inventory else _last_segment(dump.cluster_id, cluster_folder),
            region=inventory.location if inventory else "",
            agent_version=agent_version(),
        )
        reports.append(_Sourced(report_from_dump(dump, identity, gather), cluster_folder))
        inputs.warnings += dump.warnings
    return reports


def _named(name: str, inputs: AuditInputs) -> list[inventory_pb2.ClusterInventory]:
    return [i for i in inputs.inventories if i.name.lower() == name.lower()]


def _match(
    source: Path, name: str, cluster_id: str, inputs: AuditInputs, hint: str = CLUSTER_ID_HINT
) -> inventory_pb2.ClusterInventory | None:
    """The managed cluster a dump folder or report belongs to, by ARM id, else by name."""
    if cluster_id:
        found = [i for i in inputs.inventories if i.arm_resource_id.lower() == cluster_id.lower()]
        if not found and inputs.inventories:
            inputs.warn(f"{source}: no ARM file holds the cluster {cluster_id}")
        return found[0] if found else None
    named = _named(name, inputs)
    if len(named) > 1:
        groups = ", ".join(sorted(i.resource_group for i in named))
        inputs.warn(
            f"{source}: {len(named)} managed clusters are named {name} (resource groups "
            f"{groups}); {hint}"
        )
        return None
    if not named and inputs.inventories:
        inputs.warn(
            f"{source}: no managed cluster in the ARM files is named {name}; it is audited "
            f"without ARM facts ({hint})"
        )
    return named[0] if named else None


def _last_segment(cluster_id: str, folder: Path) -> str:
    return cluster_id.rstrip("/").rsplit("/", 1)[-1] if cluster_id else folder.name


def _newest_per_cluster(sourced: list[_Sourced], inputs: AuditInputs) -> list[report_pb2.Report]:
    """One report per cluster: the one gathered last (then the agent's own order)."""
    chosen: dict[str, _Sourced] = {}
    for item in sourced:
        key = report_key(item.report)
        if not key:
            inputs.warn(f"{item.source}: the report names no cluster; it was left out")
            continue
        known = chosen.get(key)
        if known is None:
            chosen[key] = item
            continue
        newer, older = sorted((item, known), key=_report_order, reverse=True)
        inputs.warn(
            f"{older.source} and {newer.source} both report cluster {key}; the newer, "
            f"{newer.source}, is audited"
        )
        chosen[key] = newer
    return [item.report for item in chosen.values()]


def _report_order(item: _Sourced) -> tuple[int, int, int, int]:
    report = item.report
    gathered = report.gathered_at
    return (gathered.seconds, gathered.nanos, report.agent_epoch, report.sequence)
