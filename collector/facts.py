"""Assembles a cluster's facts, the rules' single input, from what the store holds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def assemble_facts(
    cluster_key: str,
    *,
    report: report_pb2.Report | None,
    report_received_at: datetime | None,
    inventory: inventory_pb2.ClusterInventory | None,
    now: datetime,
    usage_history: Iterable[audit_pb2.RangeUsage] = (),
    earlier_report: report_pb2.Report | None = None,
    earlier_received_at: datetime | None = None,
) -> audit_pb2.ClusterFacts:
    facts = audit_pb2.ClusterFacts(cluster_key=cluster_key.lower(), evaluated_at=_timestamp(now))
    if report is not None:
        facts.report.CopyFrom(report)
        if report_received_at is not None:
            facts.report_received_at.CopyFrom(_timestamp(report_received_at))
    if inventory is not None:
        facts.inventory.CopyFrom(inventory)
    facts.usage_history.extend(usage_history)
    if earlier_report is not None:
        facts.earlier_node_network_configs.CopyFrom(
            earlier_node_network_configs(earlier_report, earlier_received_at)
        )
    return facts


def earlier_node_network_configs(
    report: report_pb2.Report, received_at: datetime | None
) -> audit_pb2.EarlierNodeNetworkConfigs:
    """The NodeNetworkConfigs and azure-cns IPAM figures of an earlier report, by node:
    all CNI-007 needs of it."""
    earlier = audit_pb2.EarlierNodeNetworkConfigs(report_gathered_at=report.gathered_at)
    if received_at is not None:
        earlier.report_received_at.CopyFrom(_timestamp(received_at))
    for node in report.nodes:
        if node.HasField("node_network_config"):
            earlier.by_node[node.name].CopyFrom(node.node_network_config)
    for metrics in report.cni.cns_metrics:
        earlier.cns_by_node[metrics.node].CopyFrom(metrics)
    return earlier
