"""Compliance rules: one file per family, one registration line per rule.

Rules see only protobuf facts (``audit_pb2.ClusterFacts``) and return findings;
``evaluate_rules`` applies the fleet's :class:`RuleSettings` (disabled rules,
severity overrides).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from netaudit.collector.rules import cni, coredns, gateway, kubenet, private_dns
from netaudit.collector.rules.rule import DataSource, Rule
from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2

__all__ = ["RULES", "RULES_BY_ID", "DataSource", "Rule", "RuleSettings", "evaluate_rules"]

logger = logging.getLogger(__name__)

RULES: tuple[Rule, ...] = (
    cni.CNI_001,
    cni.CNI_002,
    kubenet.KUB_001,
    gateway.GWA_002,
    private_dns.PDN_001,
    coredns.DNS_002,
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def evaluate_rules(
    facts: audit_pb2.ClusterFacts,
    settings: RuleSettings,
    rules: Iterable[Rule] = RULES,
) -> list[audit_pb2.Finding]:
    """Every enabled rule's findings for one cluster, with severity overrides applied.

    A rule that raises is logged and skipped, so one rule's bug or one odd ARM
    value cannot hide every other rule's findings for the cluster.
    """
    disabled = set(settings.disabled)
    findings: list[audit_pb2.Finding] = []
    for rule in rules:
        if rule.id in disabled:
            continue
        try:
            rule_findings = rule.evaluate(facts, settings)
        except Exception:
            logger.exception("rule %s failed on cluster %s", rule.id, facts.cluster_key)
            continue
        override = settings.severity_override(rule.id)
        for finding in rule_findings:
            if override is not None:
                finding.severity = override
            findings.append(finding)
    return findings
