"""Rule settings: which rules run where, at what severity, with which thresholds.

Under ``rules:`` in the collector's config file; a rule id as a key holds that
rule's settings, and names that are not ``enabled``/``severity``/``scope``/
``thresholds`` are taken as threshold names::

    rules:
      report_max_age_seconds: 1800
      on_premises_cidrs: [10.100.0.0/16]
      CNI-002: {high: 0.95, medium: 0.85}
      KUB-001: {enabled: false}
      NPL-005: {severity: medium, scope: {clusters: ["prod-*"]}}

Unknown rule ids and threshold names are configuration errors, so a typo
cannot silently leave a rule on or a threshold at its default.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from netaudit.v1 import audit_pb2

if TYPE_CHECKING:
    from netaudit.collector.rules.rule import Rule

SeverityName = Literal["info", "low", "medium", "high", "critical"]

SEVERITY_BY_NAME: dict[str, audit_pb2.Severity.ValueType] = {
    "info": audit_pb2.SEVERITY_INFO,
    "low": audit_pb2.SEVERITY_LOW,
    "medium": audit_pb2.SEVERITY_MEDIUM,
    "high": audit_pb2.SEVERITY_HIGH,
    "critical": audit_pb2.SEVERITY_CRITICAL,
}

RULE_ID = re.compile(r"^[A-Za-z]{3}-\d{3}$")
PER_RULE_FIELDS = {"enabled", "severity", "scope", "thresholds"}


class RuleScope(BaseModel):
    """Where a rule applies; an empty list means everywhere. Names compare case-insensitively;
    ``clusters`` takes shell patterns (``prod-*``) on the cluster name."""

    model_config = ConfigDict(extra="forbid")

    subscriptions: list[str] = Field(default_factory=list, description="Subscription ids.")
    resource_groups: list[str] = Field(default_factory=list, description="Resource group names.")
    clusters: list[str] = Field(default_factory=list, description="Cluster name patterns.")

    def excludes(self, subscription: str, resource_group: str, cluster: str) -> str | None:
        """Why a cluster is outside this scope, or None when it is inside."""
        if self.subscriptions and subscription.lower() not in _lower(self.subscriptions):
            return f"subscription {subscription or '(unknown)'} is not in the rule's scope"
        if self.resource_groups and resource_group.lower() not in _lower(self.resource_groups):
            return f"resource group {resource_group or '(unknown)'} is not in the rule's scope"
        if self.clusters and not any(
            fnmatch.fnmatchcase(cluster.lower(), pattern.lower()) for pattern in self.clusters
        ):
            return f"cluster {cluster} matches none of the rule's cluster patterns"
        return None


def _lower(values: list[str]) -> set[str]:
    return {value.lower() for value in values}


class PerRuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="False: the rule is not evaluated.")
    severity: SeverityName | None = Field(
        default=None,
        description="Replaces the rule's base severity; graded rules keep their grading "
        "relative to it.",
    )
    scope: RuleScope = Field(
        default_factory=RuleScope,
        description="Where the rule applies (subscriptions, resource_groups, clusters); "
        "empty: everywhere.",
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Threshold name -> value (the rule lists its names)."
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_names_are_thresholds(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        known = {k: v for k, v in value.items() if k in PER_RULE_FIELDS}
        bare = {k: v for k, v in value.items() if k not in PER_RULE_FIELDS}
        if bare:
            known["thresholds"] = {**dict(known.get("thresholds") or {}), **bare}
        return known

    @field_validator("severity", mode="before")
    @classmethod
    def _lower_severity(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class RuleSettings(BaseModel):
    """Per-fleet choices about the rules; every field has a default that fits most fleets."""

    model_config = ConfigDict(extra="forbid")

    report_max_age_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="An agent report older than this (seconds, from the collector's receive "
        "time to the scan) is stale: rules reading it come out not assessed. 30 minutes is "
        "six missed reports at the agent's default 5-minute interval.",
    )
    on_premises_cidrs: list[str] = Field(
        default_factory=list,
        description="Address ranges reachable from the clusters' VNets over VPN or "
        "ExpressRoute (CIDR notation). Pod and service CIDRs must not overlap them; ARM "
        "cannot tell, so they are declared here.",
    )
    per_rule: dict[str, PerRuleSettings] = Field(
        default_factory=dict,
        description="Rule id -> its settings; a rule id may also be given directly under rules:.",
    )

    @model_validator(mode="before")
    @classmethod
    def _rule_ids_at_top_level(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        per_rule = {str(k).strip().upper(): v for k, v in dict(value.get("per_rule") or {}).items()}
        rest: dict[str, Any] = {}
        for key, item in value.items():
            if key == "per_rule":
                continue
            if isinstance(key, str) and RULE_ID.match(key.strip()):
                per_rule[key.strip().upper()] = item
            else:
                rest[key] = item
        if per_rule:
            rest["per_rule"] = per_rule
        return rest

    @field_validator("on_premises_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str]) -> list[str]:
        bad = []
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                bad.append(cidr)
        if bad:
            raise ValueError(f"not CIDR ranges: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _known_rules_and_thresholds(self) -> RuleSettings:
        # Imported here: the registry imports this module at package import time.
        from netaudit.collector.rules import RULES_BY_ID

        problems = []
        unknown = sorted(set(self.per_rule) - set(RULES_BY_ID))
        if unknown:
            problems.append(f"unknown rule ids {', '.join(unknown)}")
        for rule_id, config in sorted(self.per_rule.items()):
            rule = RULES_BY_ID.get(rule_id)
            if rule is None:
                continue
            names = {t.name for t in rule.thresholds}
            bad = sorted(set(config.thresholds) - names)
            if bad:
                known = ", ".join(sorted(names)) or "none"
                problems.append(
                    f"{rule_id} has no threshold {', '.join(bad)} (its thresholds: {known})"
                )
        if problems:
            raise ValueError("\n".join(problems))  # one line per problem when reported
        return self

    # -- what the engine and the rules ask -----------------------------------------

    def enabled(self, rule_id: str) -> bool:
        config = self.per_rule.get(rule_id)
        return config is None or config.enabled

    def severity_override(self, rule_id: str) -> audit_pb2.Severity.ValueType | None:
        """The configured severity for ``rule_id``, or None when the rule's own applies."""
        config = self.per_rule.get(rule_id)
        if config is None or config.severity is None:
            return None
        return SEVERITY_BY_NAME[config.severity]

    def threshold(self, rule_id: str, name: str, default: float) -> float:
        config = self.per_rule.get(rule_id)
        if config is None:
            return default
        return config.thresholds.get(name, default)

    def out_of_scope(
        self, rule: Rule, subscription: str, resource_group: str, cluster: str
    ) -> str | None:
        """Why the rule does not apply to this cluster by configuration, or None."""
        config = self.per_rule.get(rule.id)
        if config is None:
            return None
        if not config.enabled:
            return f"{rule.id} is disabled in the configuration (rules.{rule.id}.enabled)"
        return config.scope.excludes(subscription, resource_group, cluster)
