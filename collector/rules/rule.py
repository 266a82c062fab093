"""What a rule is: its catalogue entry, the facts it reads, and a pure check over one cluster.

A rule declares what it reads (:class:`Needs`): agent report sections by the
gatherer that fills them, inventory parts, or evidence that is not gathered
yet. The engine (:mod:`netaudit.collector.rules.engine`) derives "not assessed"
from those declarations and the facts, so no check hand-codes it; a check
raises :class:`NotAssessed` only for what a declaration cannot express (a field
the payload did not carry, a value that does not parse).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from netaudit.v1 import audit_pb2

if TYPE_CHECKING:
    from netaudit.collector.rules.settings import RuleSettings
    from netaudit.collector.rules.view import ClusterView


class DataSource(StrEnum):
    """Where a rule's input comes from (domain.md §5 "Src")."""

    ARM = "arm"
    AGENT = "agent"
    BOTH = "both"


class Outcome(StrEnum):
    """How one (rule, cluster) evaluation ended."""

    FINDINGS = "findings"
    PASSED = "passed"
    NOT_ASSESSED = "not_assessed"
    ERROR = "error"


class NotAssessed(Exception):
    """The check cannot judge this cluster; ``reason`` says what is missing, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DoesNotApply(Exception):
    """The rule does not apply to this cluster (e.g. KUB-005 on a cluster that is not
    kubenet): passed, even where an optional input is missing, since none could show a
    finding."""


class NeedKind(StrEnum):
    REPORT = "report"
    INVENTORY = "inventory"
    PENDING = "pending"


INVENTORY_PARTS = (
    "cluster",
    "subnets",
    "virtual_networks",
    "private_dns_zones",
    "public_dns_zones",
    "network_security_groups",
    "private_endpoints",
    "application_gateways",
    "role_assignments",
    "resource_providers",
    "agc_associations",
)
"""What an inventory need can name: the managed cluster (with its pools), the subnets
its pools use, their VNets (usages, peerings, DNS servers), private DNS zones, the
public DNS zones its ExternalDNS instances write, the
subnets' network security groups, the API server's private endpoint (with its network
interface's address), the Application Gateway the AGIC add-on targets, the role
assignments at the scopes the cluster identities need, resource provider registrations,
and the associations of Application Gateway for Containers."""


@dataclass(frozen=True)
class Needs:
    """One input a rule reads.

    ``source`` is the gatherer name for a report need (``coredns``), an
    :data:`INVENTORY_PARTS` entry for an inventory need, or a description of the
    evidence for a pending need. ``resource`` narrows a report need to gaps whose
    resource starts with it (``configmaps/v1 kube-system/coredns-custom``).
    ``not_served_means_none``: a CRD that is not installed means no such objects
    (Gateway API), so a ``not_found`` gap does not make the rule unassessable.
    ``optional``: the check runs without it; a cluster without findings is then
    not assessed, since the missing input might have shown one.
    ``either``: one of the rule's ``either`` needs is enough (ARM or the agent can
    each tell the network model); the rule is not assessed only when all are unmet.
    """

    kind: NeedKind
    source: str
    resource: str = ""
    not_served_means_none: bool = False
    optional: bool = False
    either: bool = False

    def describe(self) -> str:
        if self.kind is NeedKind.REPORT:
            return f"agent {self.source}" + (f" ({self.resource})" if self.resource else "")
        if self.kind is NeedKind.INVENTORY:
            return f"inventory {self.source}"
        return self.source


def report(
    gatherer: str,
    resource: str = "",
    *,
    not_served_means_none: bool = False,
    optional: bool = False,
    either: bool = False,
) -> Needs:
    """The rule reads what the agent's ``gatherer`` puts in the report."""
    return Needs(NeedKind.REPORT, gatherer, resource, not_served_means_none, optional, either)


def inventory(part: str = "cluster", *, optional: bool = False, either: bool = False) -> Needs:
    """The rule reads this part of the ARM inventory (:data:`INVENTORY_PARTS`)."""
    if part not in INVENTORY_PARTS:
        raise ValueError(f"inventory part {part!r} is not one of {', '.join(INVENTORY_PARTS)}")
    return Needs(NeedKind.INVENTORY, part, optional=optional, either=either)


def pending(evidence: str) -> Needs:
    """Evidence that neither the agent nor the inventory gathers yet."""
    return Needs(NeedKind.PENDING, evidence)


@dataclass(frozen=True)
class Threshold:
    """A tunable number of a rule, by name (``rules.per_rule.<ID>.thresholds.<name>``)."""

    name: str
    default: float
    description: str


Check = Callable[["Rule", "ClusterView", "RuleSettings"], Iterable[audit_pb2.Finding]]


@dataclass(frozen=True)
class FleetGroup:
    """Claims of several clusters (or instances) on one shared resource."""

    kind: str
    resource: str
    claims: tuple[audit_pb2.FleetClaim, ...]

    @property
    def cluster_keys(self) -> list[str]:
        return sorted({claim.cluster_key for claim in self.claims})


FleetCheck = Callable[["Rule", FleetGroup, "RuleSettings"], Iterable[audit_pb2.Finding]]
"""A fleet-wide check: findings (one per cluster involved) over one shared resource."""


@dataclass(frozen=True)
class Rule:
    """One catalogue entry (domain.md §5) and the check that evaluates it.

    ``severity`` is the base severity of §5. A graded rule gives its findings a
    severity relative to the base (:meth:`graded`); a configured override moves
    the base and the grading with it. ``check`` is None only for rules whose
    evidence is pending: they always come out not assessed.
    """

    id: str
    title: str
    severity: audit_pb2.Severity.ValueType
    rationale: str
    remediation: str
    references: tuple[str, ...]
    data_source: DataSource
    reads: tuple[Needs, ...]
    check: Check | None
    thresholds: tuple[Threshold, ...] = field(default=())
    fleet: tuple[str, FleetCheck] | None = None
    """(claim kind, check): also evaluated by the fleet-wide reduce over every group of
    clusters sharing a resource of that kind (a subnet, a route table, an owner id)."""

    def __post_init__(self) -> None:
        if self.check is None and not self.pending_evidence:
            raise ValueError(f"rule {self.id}: a rule without a check must declare pending(...)")

    @property
    def pending_evidence(self) -> tuple[str, ...]:
        return tuple(n.source for n in self.reads if n.kind is NeedKind.PENDING)

    def threshold(self, name: str, settings: RuleSettings) -> float:
        """The configured value of threshold ``name``, or its declared default."""
        for declared in self.thresholds:
            if declared.name == name:
                return settings.threshold(self.id, name, declared.default)
        raise KeyError(f"rule {self.id} declares no threshold {name!r}")

    def graded(self, levels: int) -> audit_pb2.Severity.ValueType:
        """The base severity moved ``levels`` up (positive) or down (negative), clamped."""
        return clamp_severity(int(self.severity) + levels)

    def finding(
        self,
        view: ClusterView,
        *,
        resource: str,
        message: str,
        evidence: Mapping[str, object],
        severity: audit_pb2.Severity.ValueType | None = None,
    ) -> audit_pb2.Finding:
        """A finding of this rule on ``resource``; evidence values are stored as strings."""
        return self.finding_for(
            view.cluster_key,
            resource=resource,
            message=message,
            evidence=evidence,
            severity=severity,
        )

    def finding_for(
        self,
        cluster_key: str,
        *,
        resource: str,
        message: str,
        evidence: Mapping[str, object],
        severity: audit_pb2.Severity.ValueType | None = None,
    ) -> audit_pb2.Finding:
        """A finding on a cluster named by key (the fleet-wide checks have no view)."""
        return audit_pb2.Finding(
            rule_id=self.id,
            title=self.title,
            severity=self.severity if severity is None else severity,
            cluster_key=cluster_key,
            resource=resource,
            message=message,
            evidence={key: evidence_text(value) for key, value in evidence.items()},
            remediation=self.remediation,
        )


def clamp_severity(value: int) -> audit_pb2.Severity.ValueType:
    return audit_pb2.Severity.ValueType(
        min(max(value, audit_pb2.SEVERITY_INFO), audit_pb2.SEVERITY_CRITICAL)
    )


def evidence_text(value: object) -> str:
    """Booleans as JSON spells them; floats to 3 decimals without trailing zeros."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


URGENT_DAYS = Threshold(
    "urgent_days",
    180,
    "Days before the retirement date from which findings are one severity level higher: "
    "180 days is about one planning cycle for a migration.",
)
"""The threshold every dated rule declares (domain.md §5: "escalate at <= 180 days")."""


def dated_severity(
    rule: Rule, view: ClusterView, settings: RuleSettings, when: date
) -> tuple[audit_pb2.Severity.ValueType, int]:
    """(severity, days left until ``when``): one level above the base from ``urgent_days``
    before the date on, counted from the scan's clock."""
    days = (when - view.now.date()).days
    if days <= rule.threshold(URGENT_DAYS.name, settings):
        return rule.graded(+1), days
    return rule.severity, days
