"""Outcomes in the store: "not assessed" never resolves a finding, the latest outcome per
(cluster, rule) and per-scan counts, the scan-order guard, fleet claims and fleet findings.
Each test runs on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest

from netaudit.collector.store import StaleReport, Store
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2


class Outcome(StrEnum):
    """The engine's outcomes as the store receives them."""

    FINDINGS = "findings"
    PASSED = "passed"
    NOT_ASSESSED = "not_assessed"
    ERROR = "error"


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    outcome: Outcome
    reason: str = ""
    findings: tuple[audit_pb2.Finding, ...] = ()


@dataclass(frozen=True)
class ClusterEvaluation:
    cluster_key: str
    outcomes: tuple[RuleOutcome, ...]


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY_A = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/a"
KEY_B = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/b"
SUBNET = (
    "/subscriptions/s1/resourcegroups/net/providers/microsoft.network/virtualnetworks/v/"
    "subnets/shared"
)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as store:
        for key in (KEY_A, KEY_B):
            store.save_inventory(inventory(key))
        yield store


def inventory(key: str, *, route_table: str = "", nodes: int = 0) -> inventory_pb2.ClusterInventory:
    """A hand-made legacy Azure CNI cluster with one pool on the shared /24."""
    result = inventory_pb2.ClusterInventory(arm_resource_id=key, name=key.rsplit("/", 1)[-1])
    result.refreshed_at.FromDatetime(T0)
    result.network_profile.network_plugin = "azure"
    if nodes:
        result.agent_pools.add(
            name="pool", count=nodes, max_pods=30, vnet_subnet_id=SUBNET, max_surge="0"
        )
        result.subnets.add(id=SUBNET, address_prefixes=["10.0.0.0/24"], route_table_id=route_table)
    return result


def finding(key: str, rule_id: str, resource: str) -> audit_pb2.Finding:
    return audit_pb2.Finding(
        rule_id=rule_id, title="t", severity=audit_pb2.SEVERITY_HIGH, cluster_key=key,
        resource=resource, message="m",
    )  # fmt: skip


def evaluation(key: str, *outcomes: RuleOutcome) -> ClusterEvaluation:
    return ClusterEvaluation(key, outcomes)


def found(rule_id: str, *resources: str, key: str = KEY_A, reason: str = "") -> RuleOutcome:
    return RuleOutcome(
        rule_id, Outcome.FINDINGS, reason, tuple(finding(key, rule_id, r) for r in resources)
    )


def open_resources(store: Store, key: str = KEY_A) -> set[tuple[str, str]]:
    return {(f.finding.rule_id, f.finding.resource) for f in store.open_findings(key)}


def test_not_assessed_and_error_leave_open_findings_open_and_passed_resolves(store: Store) -> None:
    first = store.start_scan()
    store.record_evaluations(
        first,
        [evaluation(KEY_A, found("DNS-002", "cm/a"), found("CNI-001", "s"), found("GWA-002", "g"))],
        now=T0,
    )
    second = store.start_scan()
    store.record_evaluations(
        second,
        [
            evaluation(
                KEY_A,
                RuleOutcome("DNS-002", Outcome.NOT_ASSESSED, "the agent could not read configmaps"),
                RuleOutcome("CNI-001", Outcome.ERROR, "ValueError: x"),
                RuleOutcome("GWA-002", Outcome.PASSED),
            )
        ],
        now=T0 + timedelta(hours=1),
    )
    assert open_resources(store) == {("DNS-002", "cm/a"), ("CNI-001", "s")}
    outcomes = {o.rule_id: (o.outcome, o.reason) for o in store.outcomes(KEY_A)}
    assert outcomes["DNS-002"] == ("not_assessed", "the agent could not read configmaps")
    assert outcomes["GWA-002"] == ("passed", "")


def test_partial_findings_resolve_nothing_else_of_the_rule(store: Store) -> None:
    store.record_evaluations(
        store.start_scan(), [evaluation(KEY_A, found("CNI-001", "s1", "s2"))], now=T0
    )
    store.record_evaluations(
        store.start_scan(),
        [evaluation(KEY_A, found("CNI-001", "s1", reason="pool x: maxSurge 'abc'"))],
        now=T0 + timedelta(hours=1),
    )
    assert open_resources(store) == {("CNI-001", "s1"), ("CNI-001", "s2")}
    store.record_evaluations(
        store.start_scan(), [evaluation(KEY_A, found("CNI-001", "s1"))], now=T0 + timedelta(hours=2)
    )
    assert open_resources(store) == {("CNI-001", "s1")}


def test_outcome_rows_change_only_when_the_outcome_does_and_counts_are_per_scan(
    store: Store,
) -> None:
    first = store.start_scan()
    batch = [
        evaluation(KEY_A, RuleOutcome("KUB-001", Outcome.PASSED)),
        evaluation(KEY_B, RuleOutcome("KUB-001", Outcome.NOT_ASSESSED, "no report")),
    ]
    store.record_evaluations(first, batch, now=T0)
    second = store.start_scan()
    store.record_evaluations(second, batch, now=T0 + timedelta(hours=1))
    (row,) = store.outcomes(KEY_A, "KUB-001")
    assert (row.since, row.scan_id) == (T0, first)
    assert store.scan_outcome_totals(second) == {
        ("KUB-001", "passed"): 1,
        ("KUB-001", "not_assessed"): 1,
    }


def test_a_late_retry_of_an_older_scan_does_not_overwrite_a_newer_one(store: Store) -> None:
    older, newer = store.start_scan(), store.start_scan()
    recorded = store.record_evaluations(newer, [evaluation(KEY_A, found("GWA-002", "g"))], now=T0)
    assert recorded.stale == ()
    late = store.record_evaluations(
        older, [evaluation(KEY_A, RuleOutcome("GWA-002", Outcome.PASSED))], now=T0 + timedelta(1)
    )
    assert late.stale == (KEY_A,)
    assert open_resources(store) == {("GWA-002", "g")}
    assert [o.outcome for o in store.outcomes(KEY_A)] == ["findings"]


def test_inventory_claims_are_grouped_when_clusters_share_a_subnet(store: Store) -> None:
    store.save_inventory(inventory(KEY_A, nodes=3, route_table="/rt/one"))
    assert list(store.shared_claims("subnet")) == []
    later = inventory(KEY_B, nodes=4, route_table="/rt/one")
    later.refreshed_at.FromDatetime(T0 + timedelta(1))
    store.save_inventory(later)
    ((resource, claims),) = list(store.shared_claims("subnet"))
    assert resource == SUBNET
    assert sorted(
        (c.cluster_key, c.subnet.pools[0].nodes, c.subnet.pools[0].ips_per_node) for c in claims
    ) == [
        (KEY_A, 3, 31),
        (KEY_B, 4, 31),
    ]
    assert [r for r, _ in store.shared_claims("route_table")] == ["/rt/one"]


def test_only_the_latest_report_claims_external_dns_owners(store: Store) -> None:
    def report(report_id: str, sequence: int, owner: str) -> report_pb2.Report:
        result = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=sequence)
        result.cluster.arm_resource_id = KEY_A
        instance = result.external_dns.instances.add(txt_owner_id=owner, domain_filters=["x.io"])
        instance.workload.namespace, instance.workload.name = "dns", "external-dns"
        return result

    store.commit_report(report("r2", 2, "team-a"), agent_id="a", received_at=T0)
    with pytest.raises(StaleReport):  # an older report of the same agent run claims nothing
        store.commit_report(report("r1", 1, "team-b"), agent_id="a", received_at=T0)
    second = report("r3", 3, "team-a")
    second.cluster.arm_resource_id = KEY_B
    store.commit_report(second, agent_id="b", received_at=T0)
    ((owner, claims),) = list(store.shared_claims("external_dns", per_claim=True))
    assert owner == "team-a"
    assert sorted(c.cluster_key for c in claims) == [KEY_A, KEY_B]


def test_fleet_findings_mark_outcomes_and_resolve_only_fleet_scope(store: Store) -> None:
    scan = store.start_scan()
    store.record_evaluations(
        scan,
        [
            evaluation(KEY_A, RuleOutcome("KUB-003", Outcome.PASSED)),
            evaluation(KEY_B, RuleOutcome("KUB-003", Outcome.PASSED)),
        ],
        now=T0,
    )
    shared = [finding(KEY_A, "KUB-003", "/rt/one"), finding(KEY_B, "KUB-003", "/rt/one")]
    assert store.record_fleet_findings(scan, ["KUB-003"], shared, now=T0)
    assert open_resources(store, KEY_A) == {("KUB-003", "/rt/one")}
    assert {o.outcome for o in store.outcomes(rule_id="KUB-003")} == {"findings"}
    assert store.scan_outcome_totals(scan) == {("KUB-003", "findings"): 2}

    # the next scan: per-cluster verdicts do not resolve fleet findings; the fleet step does
    nxt = store.start_scan()
    store.record_evaluations(
        nxt,
        [
            evaluation(KEY_A, RuleOutcome("KUB-003", Outcome.PASSED)),
            evaluation(KEY_B, RuleOutcome("KUB-003", Outcome.NOT_ASSESSED, "no inventory")),
        ],
        now=T0 + timedelta(1),
    )
    assert open_resources(store, KEY_A) == {("KUB-003", "/rt/one")}
    assert store.record_fleet_findings(nxt, ["KUB-003"], [], now=T0 + timedelta(1))
    assert open_resources(store, KEY_A) == set()
    assert open_resources(store, KEY_B) == {("KUB-003", "/rt/one")}, "not assessed stays open"
    assert [o.outcome for o in store.outcomes(KEY_A, "KUB-003")] == ["passed"]
    assert not store.record_fleet_findings(scan, ["KUB-003"], shared, now=T0 + timedelta(2))
    assert open_resources(store, KEY_A) == set(), "an older scan's reduce changes nothing"
