"""The rules whose evidence is not gathered yet say so, even on a cluster with every other fact."""

from __future__ import annotations

from netaudit.collector.rules import RULES, Outcome, RuleOutcome
from tests.rule_cases import (
    RuleCase,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
)
from tests.unit.rules.test_catalogue import PENDING_IDS


def full_facts():  # type: ignore[no-untyped-def]
    """The recorded overlay cluster from ARM and a report with its CoreDNS config."""
    inventory = inventory_of(managed_cluster("azcli-recording_ManagedClusterGet_cni-overlay.json"))
    report = new_report(inventory.arm_resource_id)
    for document in k8s_documents("coredns/aks_coredns-custom_forward.yaml"):
        for key, value in document.get("data", {}).items():
            report.coredns.custom.add(key=key, content=value)
    return facts_of(inventory, report)


def says_not_gathered(outcome: RuleOutcome) -> None:
    assert outcome.reason.endswith("is not gathered yet"), outcome.reason


CASES = [
    RuleCase(rule.id, "evidence-pending", full_facts, Outcome.NOT_ASSESSED, check=says_not_gathered)
    for rule in RULES
    if rule.id in PENDING_IDS
]


def test_a_pending_rule_has_no_check() -> None:
    assert all(rule.check is None for rule in RULES if rule.id in PENDING_IDS)
