"""What a rule is: its catalogue entry and a pure check over one cluster's facts."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2


class DataSource(StrEnum):
    """Where a rule's input comes from (domain.md §5 "Src")."""

    ARM = "arm"
    AGENT = "agent"
    BOTH = "both"


Check = Callable[["Rule", audit_pb2.ClusterFacts, RuleSettings], Iterable[audit_pb2.Finding]]


@dataclass(frozen=True)
class Rule:
    """One catalogue entry (domain.md §5) and the check that evaluates it.

    ``check`` yields findings built with :meth:`finding`; it returns nothing when
    the data it needs (report or inventory) is absent, because unknown is not
    compliant and not a violation either.
    """

    id: str
    title: str
    severity: audit_pb2.Severity.ValueType
    rationale: str
    remediation: str
    references: tuple[str, ...]
    data_source: DataSource
    check: Check

    def evaluate(
        self, facts: audit_pb2.ClusterFacts, settings: RuleSettings
    ) -> list[audit_pb2.Finding]:
        return list(self.check(self, facts, settings))

    def finding(
        self,
        facts: audit_pb2.ClusterFacts,
        *,
        resource: str,
        message: str,
        evidence: Mapping[str, object],
        severity: audit_pb2.Severity.ValueType | None = None,
    ) -> audit_pb2.Finding:
        """A finding of this rule on ``resource``; evidence values are stored as strings."""
        return audit_pb2.Finding(
            rule_id=self.id,
            title=self.title,
            severity=self.severity if severity is None else severity,
            cluster_key=facts.cluster_key,
            resource=resource,
            message=message,
            evidence={key: _evidence_text(value) for key, value in evidence.items()},
            remediation=self.remediation,
        )


def _evidence_text(value: object) -> str:
    """Booleans as JSON spells them; floats to 3 decimals without trailing zeros."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)
