"""Rule settings: which rules run, at what severity, with which thresholds.

The lead embeds ``RuleSettings`` under ``rules:`` in the collector's config
file, e.g.::

    rules:
      disabled: [KUB-001]
      severity_overrides: {CNI-002: medium}
      utilisation_high: 0.9
      utilisation_medium: 0.8
      on_premises_cidrs: [10.100.0.0/16]
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from netaudit.v1 import audit_pb2

SeverityName = Literal["info", "low", "medium", "high", "critical"]

SEVERITY_BY_NAME: dict[str, audit_pb2.Severity.ValueType] = {
    "info": audit_pb2.SEVERITY_INFO,
    "low": audit_pb2.SEVERITY_LOW,
    "medium": audit_pb2.SEVERITY_MEDIUM,
    "high": audit_pb2.SEVERITY_HIGH,
    "critical": audit_pb2.SEVERITY_CRITICAL,
}


class RuleSettings(BaseModel):
    """Per-fleet choices about the rules; every field has a default that fits most fleets."""

    model_config = ConfigDict(extra="forbid")

    disabled: list[str] = Field(
        default_factory=list,
        description="Rule ids that are not evaluated at all (e.g. KUB-001 while a migration "
        "is already planned). Unknown ids are a configuration error, so a typo cannot "
        "silently leave a rule on.",
    )
    severity_overrides: dict[str, SeverityName] = Field(
        default_factory=dict,
        description="Rule id -> severity (info, low, medium, high, critical) replacing the "
        "severity the rule gives its findings, for fleets that rank a risk differently.",
    )
    utilisation_high: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Subnet IP utilisation ratio (used / limit, 0..1) at or above which "
        "CNI-002 is high: at 90% one scale-out or upgrade surge can fill the subnet.",
    )
    utilisation_medium: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Subnet IP utilisation ratio (0..1) at or above which CNI-002 is medium: "
        "80% leaves time to plan a bigger subnet before it blocks scaling.",
    )
    gateway_grace_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Seconds a Gateway may stay not Accepted / not Programmed before GWA-002 "
        "fires; 5 minutes covers a controller provisioning a load balancer address.",
    )
    kubenet_urgent_days: int = Field(
        default=180,
        ge=0,
        description="Days before kubenet's retirement (2028-03-31) from which KUB-001 is high "
        "instead of medium; 180 days is about one planning cycle for a CNI migration.",
    )
    on_premises_cidrs: list[str] = Field(
        default_factory=list,
        description="Address ranges reachable from the clusters' VNets over VPN or "
        "ExpressRoute (CIDR notation). Pod and service CIDRs must not overlap them; ARM "
        "cannot tell, so they are declared here.",
    )

    @field_validator("disabled")
    @classmethod
    def _ids_upper(cls, value: list[str]) -> list[str]:
        return [rule_id.strip().upper() for rule_id in value]

    @field_validator("severity_overrides", mode="before")
    @classmethod
    def _override_keys_upper_values_lower(cls, value: object) -> object:
        if isinstance(value, dict):
            return {
                str(k).strip().upper(): v.strip().lower() if isinstance(v, str) else v
                for k, v in value.items()
            }
        return value

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
    def _consistent(self) -> RuleSettings:
        if self.utilisation_medium > self.utilisation_high:
            raise ValueError(
                f"utilisation_medium ({self.utilisation_medium}) must not exceed "
                f"utilisation_high ({self.utilisation_high})"
            )
        # Imported here: the registry imports this module at package import time.
        from netaudit.collector.rules import RULES_BY_ID

        unknown = sorted(
            {*self.disabled, *self.severity_overrides} - set(RULES_BY_ID),
        )
        if unknown:
            raise ValueError(
                f"unknown rule ids {', '.join(unknown)}; known: {', '.join(sorted(RULES_BY_ID))}"
            )
        return self

    def severity_override(self, rule_id: str) -> audit_pb2.Severity.ValueType | None:
        """The configured severity for ``rule_id``, or None when the rule's own applies."""
        name = self.severity_overrides.get(rule_id)
        return SEVERITY_BY_NAME[name] if name else None
