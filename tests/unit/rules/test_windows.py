"""Windows pool rules: WIN-001 (unsupported networking), WIN-002 (Windows Server 2019),
WIN-003 (Windows Server 2022 retiring), WIN-004 (maxPods above 110)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.windows import WIN_001, WIN_002, WIN_003, WIN_004
from netaudit.v1 import audit_pb2
from tests.rule_cases import (
    Alter,
    RuleCase,
    arm_json,
    facts_of,
    inventory_of,
    outcome_of,
)
from tests.rule_cases import (
    altered_cluster as cluster,
)

FAMILY = (WIN_001, WIN_002, WIN_003, WIN_004)
WINDOWS_CNI = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
"""Azure CNI node subnet, Azure NPM, a Linux pool and Windows2022 pool npwin (1.25.6)."""
KUBENET = "ManagedClustersGet.json"
OVERLAY_CILIUM = "azcli-recording_ManagedClusterGet_cni-overlay-cilium.json"


def arm_facts(name: str, *alters: Alter) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts_of(inventory_of(cluster(name, *alters)))


def pools(body: dict[str, Any]) -> list[dict[str, Any]]:
    profiles: list[dict[str, Any]] = body["properties"]["agentPoolProfiles"]
    return profiles


def with_windows_pool(body: dict[str, Any]) -> None:
    """Adds the Windows2022 pool wnp2 of the AgentPools_CreateOrUpdate example."""
    pools(body).append(arm_json("managedclusters/AgentPoolsCreate_WindowsOSSKU.json"))


def windows(**changes: Any) -> Alter:
    """Changes the recorded Windows pool npwin; a None value removes the field."""

    def alter(body: dict[str, Any]) -> None:
        pool = next(p for p in pools(body) if p.get("osType") == "Windows")
        for key, value in changes.items():
            if value is None:
                pool.pop(key, None)
            else:
                pool[key] = value

    return alter


def finding_on(pool: str, severity: int | None = None) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.resource.endswith(f"/agentpools/{pool}"), finding.resource
        assert finding.resource == finding.resource.lower()
        assert finding.evidence["pool"] == pool
        if severity is not None:
            assert finding.severity == severity

    return check


def says(text: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert text in outcome.reason, outcome.reason

    return check


# -- WIN-001 ----------------------------------------------------------------------------------

WIN_001_CASES = [
    RuleCase("WIN-001", "kubenet-with-windows-pool", arm_facts(KUBENET, with_windows_pool),
             Outcome.FINDINGS, check=finding_on("wnp2")),
    RuleCase("WIN-001", "overlay-cilium-with-windows-pool",
             arm_facts(OVERLAY_CILIUM, with_windows_pool), Outcome.FINDINGS,
             check=finding_on("wnp2")),
    RuleCase("WIN-001", "azure-cni-windows-pool", arm_facts(WINDOWS_CNI), Outcome.PASSED),
    RuleCase("WIN-001", "kubenet-linux-only", arm_facts(KUBENET), Outcome.PASSED),
]  # fmt: skip


def test_win001_names_the_cilium_dataplane() -> None:
    (finding,) = outcome_of(
        "WIN-001", facts_of(inventory_of(cluster(OVERLAY_CILIUM, with_windows_pool)))
    ).findings
    assert finding.evidence["network_dataplane"] == "cilium"
    assert "Cilium dataplane" in finding.message


# -- WIN-002 ----------------------------------------------------------------------------------

WIN_002_CASES = [
    RuleCase("WIN-002", "windows2019-pool-125-days-before-removal",
             arm_facts(WINDOWS_CNI, windows(osSKU="Windows2019")), Outcome.FINDINGS,
             check=finding_on("npwin", audit_pb2.SEVERITY_CRITICAL)),
    RuleCase("WIN-002", "unset-ossku-on-1.24-is-windows2019",
             arm_facts(WINDOWS_CNI, windows(osSKU=None, orchestratorVersion="1.24.9",
                                            currentOrchestratorVersion="1.24.9")),
             Outcome.FINDINGS, check=finding_on("npwin")),
    RuleCase("WIN-002", "windows2022-pool", arm_facts(WINDOWS_CNI), Outcome.PASSED),
    RuleCase("WIN-002", "linux-only", arm_facts(KUBENET), Outcome.PASSED),
    RuleCase("WIN-002", "unset-ossku-on-1.25-unknown", arm_facts(WINDOWS_CNI, windows(osSKU=None)),
             Outcome.NOT_ASSESSED, check=says("Windows pool npwin has no osSKU")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("when", "severity", "days"),
    [
        (datetime(2026, 10, 2, tzinfo=UTC), audit_pb2.SEVERITY_HIGH, 181),
        (datetime(2026, 10, 3, tzinfo=UTC), audit_pb2.SEVERITY_CRITICAL, 180),
        (datetime(2027, 5, 1, tzinfo=UTC), audit_pb2.SEVERITY_CRITICAL, -30),
    ],
)
def test_win002_is_critical_from_180_days_before_the_images_go(
    when: datetime, severity: int, days: int
) -> None:
    facts = facts_of(inventory_of(cluster(WINDOWS_CNI, windows(osSKU="Windows2019"))), now=when)
    (finding,) = outcome_of("WIN-002", facts).findings
    assert finding.severity == severity
    assert finding.evidence["days_remaining"] == str(days)
    assert finding.evidence["date"] == "2027-04-01"


# -- WIN-003 ----------------------------------------------------------------------------------

WIN_003_CASES = [
    RuleCase("WIN-003", "windows2022-pool-581-days-before", arm_facts(WINDOWS_CNI),
             Outcome.FINDINGS, check=finding_on("npwin", audit_pb2.SEVERITY_LOW)),
    RuleCase("WIN-003", "urgent-window-from-settings", arm_facts(WINDOWS_CNI), Outcome.FINDINGS,
             settings={"WIN-003": {"urgent_days": 600}},
             check=finding_on("npwin", audit_pb2.SEVERITY_MEDIUM)),
    RuleCase("WIN-003", "windows2022-example-pool", arm_facts(KUBENET, with_windows_pool),
             Outcome.FINDINGS, check=finding_on("wnp2")),
    RuleCase("WIN-003", "windows2019-pool", arm_facts(WINDOWS_CNI, windows(osSKU="Windows2019")),
             Outcome.PASSED),
    RuleCase("WIN-003", "windows2025-pool", arm_facts(WINDOWS_CNI, windows(osSKU="Windows2025")),
             Outcome.PASSED),
    RuleCase("WIN-003", "unset-ossku-on-1.25-unknown", arm_facts(WINDOWS_CNI, windows(osSKU=None)),
             Outcome.NOT_ASSESSED, check=says("no osSKU")),
]  # fmt: skip


def test_win003_is_medium_from_180_days_before_support_ends() -> None:
    facts = facts_of(inventory_of(cluster(WINDOWS_CNI)), now=datetime(2028, 1, 2, tzinfo=UTC))
    (finding,) = outcome_of("WIN-003", facts).findings
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert finding.evidence["days_remaining"] == "180"


def test_win003_judges_known_pools_when_another_is_unknown() -> None:
    body = cluster(WINDOWS_CNI, windows(osSKU=None), with_windows_pool)
    outcome = outcome_of("WIN-003", facts_of(inventory_of(body)))
    assert outcome.outcome is Outcome.FINDINGS
    assert [f.evidence["pool"] for f in outcome.findings] == ["wnp2"]
    assert "npwin" in outcome.reason


# -- WIN-004 ----------------------------------------------------------------------------------

WIN_004_CASES = [
    RuleCase("WIN-004", "windows-pool-250-pods", arm_facts(WINDOWS_CNI, windows(maxPods=250)),
             Outcome.FINDINGS, check=finding_on("npwin")),
    RuleCase("WIN-004", "example-pool-110-pods-under-a-lower-threshold",
             arm_facts(KUBENET, with_windows_pool), Outcome.FINDINGS,
             settings={"WIN-004": {"max_pods": 100}}, check=finding_on("wnp2")),
    RuleCase("WIN-004", "example-pool-110-pods", arm_facts(KUBENET, with_windows_pool),
             Outcome.PASSED),
    RuleCase("WIN-004", "windows-pool-30-pods", arm_facts(WINDOWS_CNI), Outcome.PASSED),
    RuleCase("WIN-004", "linux-pool-250-pods", arm_facts(OVERLAY_CILIUM), Outcome.PASSED),
]  # fmt: skip


def test_win004_evidence_has_the_numbers() -> None:
    facts = facts_of(inventory_of(cluster(WINDOWS_CNI, windows(maxPods=250))))
    (finding,) = outcome_of("WIN-004", facts).findings
    assert finding.evidence["max_pods"] == "250"
    assert finding.evidence["recommended"] == "110"


CASES = WIN_001_CASES + WIN_002_CASES + WIN_003_CASES + WIN_004_CASES
