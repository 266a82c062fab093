"""One cluster's facts and what is derived from them, computed once and shared by the rules.

The network model, the per-pool capacity terms and the parsed CoreDNS
configuration are each computed on first use and cached, so a scan derives
them once per cluster however many rules read them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property

from netaudit.collector.analysis.coredns_config import CorednsConfig, coredns_config
from netaudit.collector.analysis.ip_capacity import (
    SubnetRequirement,
    SubnetRole,
    SubnetUtilisation,
    subnet_requirements,
    subnet_utilisation,
)
from netaudit.collector.analysis.network_model import (
    NetworkModel,
    NetworkModelVerdict,
    decide_network_model,
)
from netaudit.collector.rules.rule import Needs, NotAssessed
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2


class ClusterView:
    """Read-only access to one cluster's facts plus cached derived facts."""

    def __init__(self, facts: audit_pb2.ClusterFacts) -> None:
        self.facts = facts
        self.cluster_key = facts.cluster_key or self._key_from_facts(facts)
        self._requirements: dict[SubnetRole, list[SubnetRequirement]] = {}
        self.need_reasons: dict[Needs, str | None] = {}
        """The engine's verdict on each declared need, judged once per cluster."""

    @staticmethod
    def _key_from_facts(facts: audit_pb2.ClusterFacts) -> str:
        if facts.HasField("inventory"):
            return facts.inventory.arm_resource_id.lower()
        if facts.HasField("report"):
            return facts.report.cluster.arm_resource_id.lower()
        return ""

    # -- the facts -------------------------------------------------------------

    @property
    def inventory(self) -> inventory_pb2.ClusterInventory | None:
        return self.facts.inventory if self.facts.HasField("inventory") else None

    @property
    def report(self) -> report_pb2.Report | None:
        return self.facts.report if self.facts.HasField("report") else None

    def require_inventory(self) -> inventory_pb2.ClusterInventory:
        """The inventory, or NotAssessed when ARM has not been read for this cluster."""
        if self.inventory is None:
            raise NotAssessed("no inventory from Azure Resource Manager for this cluster")
        return self.inventory

    def require_report(self) -> report_pb2.Report:
        """The agent report, or NotAssessed when no agent has reported."""
        if self.report is None:
            raise NotAssessed("no agent report from this cluster")
        return self.report

    @cached_property
    def now(self) -> datetime:
        """The evaluation time (the scan's clock, which tests set)."""
        if self.facts.HasField("evaluated_at"):
            return self.facts.evaluated_at.ToDatetime(tzinfo=UTC)
        return datetime.now(UTC)

    @cached_property
    def name(self) -> str:
        if self.inventory is not None and self.inventory.name:
            return self.inventory.name
        if self.report is not None and self.report.cluster.name:
            return self.report.cluster.name
        return self.cluster_key.rstrip("/").rsplit("/", 1)[-1]

    @cached_property
    def subscription_id(self) -> str:
        return _id_segment(self.cluster_key, "subscriptions")

    @cached_property
    def resource_group(self) -> str:
        return _id_segment(self.cluster_key, "resourcegroups")

    # -- derived facts -----------------------------------------------------------

    @cached_property
    def network(self) -> NetworkModelVerdict:
        """ARM's network model when the inventory names one, else the report's
        (incluster.md §5), else unknown."""
        return decide_network_model(self.facts)

    def require_network_model(self) -> NetworkModel:
        """The network model, or NotAssessed when neither ARM nor the agent tells it."""
        model = self.network.model
        if model is NetworkModel.UNKNOWN:
            raise NotAssessed(
                "the network model is unknown: no inventory names a plugin and the agent "
                "report shows no reliable signal"
            )
        return model

    def requirements(self, role: SubnetRole) -> list[SubnetRequirement]:
        """Per subnet of ``role``: what the cluster needs at max scale + surge (cached)."""
        if role not in self._requirements:
            inventory = self.require_inventory()
            self._requirements[role] = subnet_requirements(
                inventory, self.network.model, role, self.report
            )
        return self._requirements[role]

    @cached_property
    def utilisation(self) -> list[SubnetUtilisation]:
        return subnet_utilisation(self.require_inventory())

    @cached_property
    def coredns(self) -> CorednsConfig:
        """The CoreDNS configuration the agent saw, parsed once (requires a report)."""
        return coredns_config(self.require_report().coredns)


def unknown_pools_reason(requirements: list[SubnetRequirement]) -> str | None:
    """One sentence naming every pool whose capacity could not be computed, or None."""
    reasons = sorted(
        {reason for requirement in requirements for reason in requirement.unknown_pools.values()}
    )
    return "; ".join(reasons) if reasons else None


def _id_segment(resource_id: str, name: str) -> str:
    parts = resource_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name:
            return parts[index + 1]
    return ""
