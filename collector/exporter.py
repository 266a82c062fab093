"""Prometheus metrics computed at scrape time from the store (every replica answers the same).

Rendering (prometheus_client.generate_latest) is separate from serving; the
collector is a plain object with its dependencies as parameters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from importlib import metadata

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from netaudit.collector.analysis.ip_capacity import subnet_requirements
from netaudit.collector.analysis.network_model import model_from_inventory
from netaudit.collector.store import Store
from netaudit.v1 import audit_pb2, inventory_pb2

log = logging.getLogger(__name__)

SUBNET_LABELS = ["subscription_id", "resource_group", "virtual_network", "subnet"]


def subnet_label_values(subnet_id: str) -> list[str]:
    """subscription, resource group, VNet and subnet names from a subnet's ARM id."""
    parts = subnet_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]

    def after(segment: str) -> str:
        return parts[lowered.index(segment) + 1] if segment in lowered else ""

    return [
        after("subscriptions").lower(),
        after("resourcegroups").lower(),
        after("virtualnetworks"),
        after("subnets"),
    ]


CLUSTER_LABELS = ["subscription_id", "resource_group", "cluster"]
"""AKS cluster names are unique only within a resource group: per-cluster series carry all
three, so two clusters of one name never share a series."""


def cluster_label_values(cluster_key: str, name: str) -> list[str]:
    """subscription, resource group and cluster name from the cluster's ARM id."""
    parts = cluster_key.strip("/").split("/")
    lowered = [p.lower() for p in parts]

    def after(segment: str) -> str:
        return parts[lowered.index(segment) + 1] if segment in lowered[:-1] else ""

    return [
        after("subscriptions").lower(),
        after("resourcegroups").lower(),
        name or after("managedclusters"),
    ]


def _severity_name(value: int) -> str:
    return (
        audit_pb2.Severity.Name(audit_pb2.Severity.ValueType(value))
        .removeprefix("SEVERITY_")
        .lower()
    )


class StoreCollector(Collector):
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        started = self._clock()
        up = GaugeMetricFamily(
            "netaudit_store_up", "1 when the store could be read for this scrape, else 0."
        )
        try:
            families = [
                *self._subnet_families(self._store.all_inventories()),
                self._findings_family(),
                self._agent_family(),
                *self._scan_families(),
            ]
        except Exception:  # a broken store must not turn into a silent partial scrape
            log.exception("metrics: reading the store failed")
            up.add_metric([], 0)
            yield up
            return
        yield from families
        up.add_metric([], 1)
        yield up
        duration = GaugeMetricFamily(
            "netaudit_exporter_collect_duration_seconds",
            "Seconds spent reading the store for this scrape.",
        )
        duration.add_metric([], self._clock() - started)
        yield duration
        info = InfoMetricFamily("netaudit_build", "Version of the running collector.")
        info.add_metric([], {"version": metadata.version("aks-netaudit")})
        yield info

    def _subnet_families(
        self, inventories: list[inventory_pb2.ClusterInventory]
    ) -> list[GaugeMetricFamily]:
        capacity = GaugeMetricFamily(
            "netaudit_subnet_ip_capacity_addresses",
            "Usable IP addresses of the subnet (ARM virtualNetworks/usages limit).",
            labels=SUBNET_LABELS,
        )
        used = GaugeMetricFamily(
            "netaudit_subnet_ip_used_addresses",
            "IP addresses in use in the subnet (ARM virtualNetworks/usages currentValue).",
            labels=SUBNET_LABELS,
        )
        ratio = GaugeMetricFamily(
            "netaudit_subnet_ip_utilization_ratio",
            "Used over usable IP addresses of the subnet (0-1).",
            labels=SUBNET_LABELS,
        )
        required = GaugeMetricFamily(
            "netaudit_subnet_ip_required_addresses",
            "IP addresses the subnet needs at every pool's maximum scale plus upgrade surge.",
            labels=SUBNET_LABELS,
        )
        seen: set[str] = set()
        for inventory in inventories:
            for vnet in inventory.virtual_networks:
                for usage in vnet.subnet_usages:
                    key = usage.subnet_id.lower()
                    if key in seen or usage.limit <= 0:
                        continue
                    seen.add(key)
                    labels = subnet_label_values(usage.subnet_id)
                    capacity.add_metric(labels, usage.limit)
                    used.add_metric(labels, usage.current_value)
                    ratio.add_metric(labels, usage.current_value / usage.limit)
        required_seen: set[str] = set()
        for inventory in inventories:
            model = model_from_inventory(inventory).model
            for requirement in subnet_requirements(inventory, model):
                key = requirement.subnet_id.lower()
                if key not in required_seen:
                    required_seen.add(key)
                    labels = subnet_label_values(requirement.subnet_id)
                    required.add_metric(labels, requirement.required)
        return [capacity, used, ratio, required]

    def _findings_family(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "netaudit_open_findings",
            "Open compliance findings by rule and severity.",
            labels=["rule_id", "severity"],
        )
        for (rule_id, severity), count in sorted(self._store.open_finding_counts().items()):
            family.add_metric([rule_id, _severity_name(severity)], count)
        return family

    def _agent_family(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "netaudit_agent_last_report_timestamp_seconds",
            "When the collector last committed a report from the cluster's agent.",
            labels=CLUSTER_LABELS,
        )
        for agent in self._store.agents_last_report():
            family.add_metric(
                cluster_label_values(agent.cluster_key, agent.cluster_name),
                agent.received_at.timestamp(),
            )
        return family

    def _scan_families(self) -> list[GaugeMetricFamily]:
        finished = GaugeMetricFamily(
            "netaudit_last_scan_timestamp_seconds", "When the last finished scan ended."
        )
        outcomes = GaugeMetricFamily(
            "netaudit_rule_evaluations",
            "Clusters on which the last finished scan's evaluation of the rule ended in each "
            "outcome (findings, passed, not_assessed, error): how much was actually judged.",
            labels=["rule_id", "outcome"],
        )
        scan = self._store.last_scan(finished=True)
        if scan is not None and scan.finished_at is not None:
            finished.add_metric([], scan.finished_at.timestamp())
            totals = self._store.scan_outcome_totals(scan.id)
            for (rule_id, outcome), count in sorted(totals.items()):
                outcomes.add_metric([rule_id, outcome], count)
        return [finished, outcomes]
