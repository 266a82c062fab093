"""IP exhaustion rules with a check: pods failing IP allocation (IPX-002, agent events),
service CIDR (IPX-003, inventory + agent report) and the VNet private-IP limit (IPX-005).
the forecast of exhaustion (IPX-001, the inventory's usage history) and a node's empty
azure-cns IP pool with pods Pending on it (IPX-004, agent metrics and pod counts)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from netaudit.agent.gatherers import ip_allocation, nodes
from netaudit.collector.rules import Outcome, ip_exhaustion
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import (
    NOW,
    RuleCase,
    arm_json,
    evidence_has,
    facts_of,
    inventory_of,
    managed_cluster,
    new_report,
)
from tests.rule_cases import (
    reason_mentions as reason_names,
)
from tests.unit.rules.network_payloads import (
    AZURE_CNS,
    NNC_TABLE,
    NODE_SUBNET_ID,
    VNET_ID,
    cns_pool,
    evaluate,
    node_object,
    recorded_cni_cluster,
    service_network,
    subnet_id,
    usage_row,
    vnet_body,
)

Body = dict[str, Any]


# -- IPX-003 service CIDR nearly full -----------------------------------------------------


def hosts(cidr: str, count: int) -> list[str]:
    """The first ``count`` host addresses of ``cidr`` (.1 is kubernetes.default's)."""
    network = ipaddress.ip_network(cidr)
    return [str(network.network_address + offset) for offset in range(1, count + 1)]


def service_facts(
    cluster_ips: list[str],
    service_cidr: str | None = "10.0.0.0/24",
    cluster: Body | None = None,
    gaps: tuple[report_pb2.Gap, ...] = (),
) -> audit_pb2.ClusterFacts:
    """ManagedClustersGet (service CIDR 10.0.0.0/16, here narrowed to ``service_cidr``) and
    an agent report whose Services hold ``cluster_ips``."""
    body = cluster or managed_cluster("ManagedClustersGet.json")
    if service_cidr is not None:
        body["properties"]["networkProfile"].update(
            serviceCidr=service_cidr, serviceCidrs=[service_cidr]
        )
    inventory = inventory_of(body)
    report = new_report(inventory.arm_resource_id)
    report.services.CopyFrom(service_network(cluster_ips))
    report.gaps.extend(gaps)
    return facts_of(inventory, report)


CASES: list[RuleCase] = [
    # 205 of 256 = 80.1%
    RuleCase(
        "IPX-003",
        "205-services-in-a-slash-24",
        lambda: service_facts(hosts("10.0.0.0/24", 205)),
        Outcome.FINDINGS,
        check=evidence_has(
            **{"used.10.0.0.0/24": "205", "size.10.0.0.0/24": "256", "threshold": "0.8"}
        ),
    ),
    RuleCase(
        "IPX-003",
        "204-services-in-a-slash-24",
        lambda: service_facts(hosts("10.0.0.0/24", 204)),
        Outcome.PASSED,
    ),
    RuleCase(
        "IPX-003",
        "rest-example-slash-16-with-kube-dns",
        lambda: service_facts(["10.0.0.1", "10.0.0.10"], service_cidr=None),
        Outcome.PASSED,
    ),
    RuleCase(
        "IPX-003",
        "ratio-from-settings",
        lambda: service_facts(hosts("10.0.0.0/24", 129)),
        Outcome.FINDINGS,
        settings={"IPX-003": {"ratio": 0.5}},
        check=evidence_has(**{"used.10.0.0.0/24": "129", "threshold": "0.5"}),
    ),
    RuleCase(
        "IPX-003",
        "services-forbidden",
        lambda: service_facts(
            hosts("10.0.0.0/24", 205),
            gaps=(report_pb2.Gap(gatherer="services", resource="services/v1", reason="forbidden"),),
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names("services/v1", "forbidden"),
    ),
    RuleCase(
        "IPX-003",
        "inventory-only",
        lambda: facts_of(inventory_of(managed_cluster("ManagedClustersGet.json"))),
        Outcome.NOT_ASSESSED,
        check=reason_names("no agent report"),
    ),
]

# -- IPX-005 VNet near 65,536 ------------------------------------------------------------------


def vnet_facts(rows: list[Body], gap: bool = False) -> audit_pb2.ClusterFacts:
    """The recorded cluster with the fixture VNet and these usage rows."""
    usages: list[Mapping[str, Any]] = list(rows)
    inventory = inventory_of(recorded_cni_cluster(), vnets=[(vnet_body(), usages)])
    if gap:
        inventory.gaps.add(resource_id=VNET_ID, reason="forbidden", message="no usages")
    return facts_of(inventory)


def published_usages() -> list[Body]:
    """VirtualNetworks_ListUsage as published: GatewaySubnet -1/-1, newSubnet 2 of 3."""
    body: dict[str, Any] = arm_json("network/VirtualNetworkListUsage.json")
    rows: list[Body] = body["value"]
    return rows


def busy_vnet(pod_ips: float) -> list[Body]:
    """The published rows plus subnet1 full and two pod subnets of a /17 (32,763 usable
    each) holding ``pod_ips`` between them."""
    first = min(pod_ips, 32763)
    return [
        *published_usages(),
        usage_row(NODE_SUBNET_ID, 251, 251),
        usage_row(subnet_id("pods-a"), first, 32763),
        usage_row(subnet_id("pods-b"), pod_ips - first, 32763),
    ]


CASES += [
    # 2 + 251 + 52,300 = 52,553 > 0.8 * 65,536 = 52,428.8
    RuleCase(
        "IPX-005",
        "52553-ips-in-use",
        lambda: vnet_facts(busy_vnet(52300)),
        Outcome.FINDINGS,
        check=evidence_has(used="52553", limit="65536", ratio="0.802", subnets="4"),
    ),
    RuleCase(
        "IPX-005",
        "52428-ips-in-use",
        lambda: vnet_facts(busy_vnet(52175)),
        Outcome.PASSED,
    ),
    RuleCase("IPX-005", "published-usages", lambda: vnet_facts(published_usages()), Outcome.PASSED),
    RuleCase(
        "IPX-005",
        "ratio-from-settings",
        lambda: vnet_facts(busy_vnet(30000)),
        Outcome.FINDINGS,
        settings={"IPX-005": {"ratio": 0.4}},
        check=evidence_has(used="30253", threshold="0.4"),
    ),
    RuleCase(
        "IPX-005",
        "vnet-not-read",
        lambda: vnet_facts(busy_vnet(52300), gap=True),
        Outcome.NOT_ASSESSED,
        check=reason_names("forbidden"),
    ),
]


# -- plain tests ---------------------------------------------------------------------------


def test_dual_stack_ips_count_in_their_own_range() -> None:
    """IPv6 cluster IPs fill the IPv6 range only (fd00:1234::/108 narrowed to /120 here)."""
    body = managed_cluster("ManagedClustersCreate_DualStackNetworking.json")
    body["properties"]["networkProfile"]["serviceCidrs"] = ["10.0.0.0/16", "fd00:1234::/120"]
    ips = hosts("fd00:1234::/120", 250) + hosts("10.0.0.0/16", 250)
    outcome = evaluate(ip_exhaustion.IPX_003, service_facts(ips, service_cidr=None, cluster=body))
    (finding,) = outcome.findings
    assert finding.resource == finding.cluster_key
    assert finding.evidence["used.fd00:1234::/120"] == "250"
    assert "used.10.0.0.0/16" not in finding.evidence


def test_ips_outside_the_service_cidr_do_not_count() -> None:
    ips = hosts("10.0.0.0/24", 100) + hosts("10.1.0.0/24", 200)
    outcome = evaluate(ip_exhaustion.IPX_003, service_facts(ips))
    assert outcome.outcome is Outcome.PASSED


def test_unparsable_cluster_ip_is_named_after_the_findings() -> None:
    outcome = evaluate(ip_exhaustion.IPX_003, service_facts([*hosts("10.0.0.0/24", 210), "x"]))
    assert outcome.outcome is Outcome.FINDINGS
    assert outcome.reason == "cluster IPs do not parse: x"


def test_vnet_usage_rows_without_a_value_are_skipped() -> None:
    rows = [*busy_vnet(52300), usage_row(subnet_id("GatewaySubnet2"), -1, -1)]
    (finding,) = evaluate(ip_exhaustion.IPX_005, vnet_facts(rows)).findings
    assert finding.evidence["used"] == "52553"
    assert finding.resource == VNET_ID.lower()
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM


# -- IPX-002 pods failing IP allocation -------------------------------------------------
# Events are hand-made (the fixtures hold none); their messages follow the kubelet's
# FailedCreatePodSandBox text quoted in public issue threads (kubernetes/test-infra#13039,
# k3s-io/k3s#5885 for host-local ranges; Azure CNI's "azure-vnet" plugin and CNS's
# SubnetIsFull for the pod subnet, domain.md §1.5).

KUBENET_NODE = "aks-nodepool1-31718369-vmss000001"
POD_SUBNET_NODE = "aks-nodepool1-24187356-vmss000003"
HOST_LOCAL_FULL = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    'sandbox "5b1f0c9e8a7d": plugin type="bridge" name="kubenet" failed (add): failed to '
    "allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254"
)
CNS_SUBNET_FULL = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    'sandbox "c81d2a": plugin type="azure-vnet" failed (add): IPAM Invoker Add failed with '
    "error: Failed to get IP address from CNS with error: %w: AllocateIPConfig failed: "
    "SubnetIsFull"
)
NOT_AN_IP_FAILURE = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    'sandbox "9c2e7a": cni plugin not initialized'
)


def sandbox_event(
    pod: str, message: str, last: str, *, node: str = KUBENET_NODE, count: int = 1
) -> Body:
    namespace, name = pod.split("/")
    return {
        "metadata": {"name": f"{name}.187a3c5e1f0b9d42", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": name},
        "reason": "FailedCreatePodSandBox",
        "message": message,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": "2026-11-27T11:20:00Z",
        "lastTimestamp": last,
        "count": count,
        "type": "Warning",
    }


def events_facts(*events: Body, gaps: tuple[report_pb2.Gap, ...] = ()) -> Any:
    def build() -> audit_pb2.ClusterFacts:
        report = new_report(managed_cluster("ManagedClustersGet.json")["id"])
        report.ip_allocation.CopyFrom(ip_allocation.ip_allocation_failures(list(events)))
        report.gaps.extend(gaps)
        return facts_of(None, report)

    return build


RECENT = "2026-11-27T11:50:00Z"  # 10 min before the cases' clock
TWO_HOURS_AGO = "2026-11-27T10:00:00Z"
EVENTS_FORBIDDEN = report_pb2.Gap(
    gatherer="ip_allocation", resource="events/v1", reason="forbidden", message="denied"
)


def no_ip_allocation_evidence() -> audit_pb2.ClusterFacts:
    """A report from an agent that did not gather events (no ip_allocation section)."""
    return facts_of(None, new_report(managed_cluster("ManagedClustersGet.json")["id"]))


CASES += [
    RuleCase("IPX-002", "kubenet-host-local-range-full",
             events_facts(sandbox_event("web/web-frontend-1", HOST_LOCAL_FULL, RECENT, count=4),
                          sandbox_event("web/web-frontend-2", HOST_LOCAL_FULL, TWO_HOURS_AGO)),
             Outcome.FINDINGS,
             check=evidence_has(node=KUBENET_NODE, markers="failed to allocate for range",
                                occurrences="5", pods_total="2",
                                pods="web/web-frontend-1,web/web-frontend-2",
                                last_seen="2026-11-27T11:50:00+00:00", window_seconds="3600")),
    RuleCase("IPX-002", "pod-subnet-full",
             events_facts(sandbox_event("payments/api-7", CNS_SUBNET_FULL, RECENT,
                                        node=POD_SUBNET_NODE)),
             Outcome.FINDINGS, check=evidence_has(node=POD_SUBNET_NODE, markers="SubnetIsFull")),
    RuleCase("IPX-002", "older-failure-in-a-wider-window",
             events_facts(sandbox_event("web/web-frontend-2", HOST_LOCAL_FULL, TWO_HOURS_AGO)),
             Outcome.FINDINGS, settings={"IPX-002": {"window_seconds": 86400}},
             check=evidence_has(window_seconds="86400")),
    RuleCase("IPX-002", "failure-older-than-the-window",
             events_facts(sandbox_event("web/web-frontend-2", HOST_LOCAL_FULL, TWO_HOURS_AGO)),
             Outcome.PASSED),
    RuleCase("IPX-002", "sandbox-failure-not-about-ips",
             events_facts(sandbox_event("kube-system/metrics-server-1", NOT_AN_IP_FAILURE, RECENT)),
             Outcome.PASSED),
    RuleCase("IPX-002", "no-sandbox-failures", events_facts(), Outcome.PASSED),
    RuleCase("IPX-002", "events-forbidden", events_facts(gaps=(EVENTS_FORBIDDEN,)),
             Outcome.NOT_ASSESSED, check=reason_names("events/v1", "forbidden")),
    RuleCase("IPX-002", "agent-without-event-evidence", no_ip_allocation_evidence,
             Outcome.NOT_ASSESSED, check=reason_names("no pod sandbox events")),
]  # fmt: skip


def test_ipx002_one_finding_per_node_with_every_marker() -> None:
    facts = events_facts(
        sandbox_event("web/a", HOST_LOCAL_FULL, RECENT),
        sandbox_event("web/b", CNS_SUBNET_FULL, RECENT),
        sandbox_event("web/c", HOST_LOCAL_FULL, RECENT, node="aks-nodepool1-31718369-vmss000002"),
    )()
    outcome = evaluate(ip_exhaustion.IPX_002, facts)
    assert sorted(f.resource for f in outcome.findings) == [
        "Node aks-nodepool1-31718369-vmss000001",
        "Node aks-nodepool1-31718369-vmss000002",
    ]
    by_node = {f.evidence["node"]: f for f in outcome.findings}
    assert by_node[KUBENET_NODE].evidence["markers"] == (
        "SubnetIsFull, failed to allocate for range"
    )
    assert all(f.severity == audit_pb2.SEVERITY_CRITICAL for f in outcome.findings)


def test_ipx002_the_newest_message_is_kept_short() -> None:
    long_message = CNS_SUBNET_FULL + " " + "x" * 2000
    facts = events_facts(sandbox_event("web/a", long_message, RECENT))()
    (finding,) = evaluate(ip_exhaustion.IPX_002, facts).findings
    assert finding.evidence["message"] == long_message[: ip_exhaustion.MAX_MESSAGE_CHARS]


# -- IPX-001 forecast of exhaustion ------------------------------------------------------


def growth_facts(*used: float, days_apart: float = 1.0) -> audit_pb2.ClusterFacts:
    """The recorded Azure CNI cluster on subnet1 (limit 251) whose usage history holds these
    points, one every ``days_apart`` days, the last at the cases' clock (hand-made history:
    ARM serves one usage reading per request, the store keeps one per refresh)."""
    last = used[-1]
    inventory = inventory_of(
        recorded_cni_cluster(), vnets=[(vnet_body(), [usage_row(NODE_SUBNET_ID, last, 251)])]
    )
    facts = facts_of(inventory)
    series = facts.usage_history.add(range_key=NODE_SUBNET_ID.lower())
    for index, value in enumerate(used):
        point = series.points.add(used=int(value), capacity=251)
        point.at.FromDatetime(NOW - timedelta(days=days_apart * (len(used) - 1 - index)))
    return facts


CASES += [
    # 10 a day with 81 left: full in 8.1 days
    RuleCase(
        "IPX-001",
        "ten-a-day-81-left",
        lambda: growth_facts(100, 110, 120, 130, 140, 150, 160, 170),
        Outcome.FINDINGS,
        check=evidence_has(days_to_full="8.1", slope_per_day="10", points="8"),
    ),
    RuleCase(
        "IPX-001",
        "thirty-a-day-is-critical",
        lambda: growth_facts(20, 50, 80, 110, 140, 170, 200),
        Outcome.FINDINGS,
        check=lambda outcome: (
            [f.severity for f in outcome.findings] == [audit_pb2.SEVERITY_CRITICAL]
        ),
    ),
    RuleCase(
        "IPX-001",
        "flat-use",
        lambda: growth_facts(170, 170, 171, 170, 170, 171, 170),
        Outcome.PASSED,
    ),
    RuleCase(
        "IPX-001",
        "one-a-day-lasts-months",
        lambda: growth_facts(100, 101, 102, 103, 104, 105, 106),
        Outcome.PASSED,
    ),
    RuleCase(
        "IPX-001",
        "two-points-only",
        lambda: growth_facts(100, 170),
        Outcome.NOT_ASSESSED,
        check=reason_names("subnet1 has 2 usage point(s) in the last 14 days"),
    ),
    RuleCase(
        "IPX-001",
        "a-burst-of-points-within-an-hour",
        lambda: growth_facts(100, 110, 120, 130, 140, 150, 160, days_apart=0.01),
        Outcome.NOT_ASSESSED,
        check=reason_names("needs 6 over at least a day"),
    ),
    RuleCase(
        "IPX-001",
        "a-shorter-warning",
        lambda: growth_facts(100, 110, 120, 130, 140, 150, 160, 170),
        Outcome.PASSED,
        settings={"IPX-001": {"warning_days": 7, "critical_days": 2}},
    ),
]


# -- IPX-004 node IP pool empty with pending pods -----------------------------------------
# Two pod-subnet nodes (the NNC table's, ACN PR #1908); the pods gatherer's counts per node,
# azure-cns's pool per node through the agent's parser (network_payloads.cns_exposition).

EMPTY_NODE, OTHER_NODE = NNC_TABLE[1][0], NNC_TABLE[0][0]
CNS_FORBIDDEN = report_pb2.Gap(
    gatherer="azure_cns_metrics",
    resource=f"pods/proxy kube-system/azure-cns-{EMPTY_NODE[-4:]}:10092",
    reason="forbidden",
    message="pods/proxy is forbidden",
)


def pool_facts(
    pending: Mapping[str, int],
    pools: Mapping[str, Mapping[str, int | None]],
    *,
    azure_cns: bool = True,
    gaps: tuple[report_pb2.Gap, ...] = (),
) -> Any:
    """Both nodes with ``pending`` Pending pod-network pods each and 10 running ones, and the
    azure-cns figures of the nodes in ``pools``."""

    def build() -> audit_pb2.ClusterFacts:
        report = new_report(recorded_cni_cluster()["id"])
        for name in (OTHER_NODE, EMPTY_NODE):
            waiting = pending.get(name, 0)
            counts = nodes.PodCounts(10 + waiting, 3, waiting)
            report.nodes.append(nodes.node(node_object(name), counts))
        if azure_cns:
            report.cni.workloads.append(AZURE_CNS)
        report.cni.cns_metrics.extend(cns_pool(name, **series) for name, series in pools.items())
        report.gaps.extend(gaps)
        return facts_of(None, report)

    return build


EMPTY = {"available": 0, "requested": 32, "total": 32, "allocated": 32, "exhausted": 1}
ROOMY = {"available": 12, "requested": 32, "total": 32, "allocated": 20, "exhausted": 0}
NO_POOL: dict[str, int | None] = {"available": None}  # azure-cns in node-subnet mode

CASES += [
    RuleCase("IPX-004", "empty-pool-with-pending-pods",
             pool_facts({EMPTY_NODE: 2}, {EMPTY_NODE: EMPTY, OTHER_NODE: ROOMY}),
             Outcome.FINDINGS,
             check=evidence_has(node=EMPTY_NODE, available_ips="0", pending_pods="2",
                                total_ips="32", pod_allocated_ips="32",
                                exhausted_subnets="podnet")),
    RuleCase("IPX-004", "empty-pool-and-nothing-waiting",
             pool_facts({OTHER_NODE: 1}, {EMPTY_NODE: EMPTY, OTHER_NODE: ROOMY}), Outcome.PASSED),
    RuleCase("IPX-004", "pending-pods-with-free-ips",
             pool_facts({EMPTY_NODE: 3}, {EMPTY_NODE: ROOMY, OTHER_NODE: ROOMY}), Outcome.PASSED),
    RuleCase("IPX-004", "no-azure-cns-no-pool", pool_facts({EMPTY_NODE: 3}, {}, azure_cns=False),
             Outcome.PASSED),
    RuleCase("IPX-004", "azure-cns-without-pool-metrics",
             pool_facts({EMPTY_NODE: 3}, {EMPTY_NODE: NO_POOL, OTHER_NODE: NO_POOL}),
             Outcome.NOT_ASSESSED,
             check=reason_names("no cx_ipam_available_ips for any node", "node-subnet")),
    RuleCase("IPX-004", "agent-without-cns-metrics", pool_facts({EMPTY_NODE: 3}, {}),
             Outcome.NOT_ASSESSED, check=reason_names("no cx_ipam_available_ips")),
    RuleCase("IPX-004", "no-azure-cns-readable",
             pool_facts({EMPTY_NODE: 2}, {}, gaps=(CNS_FORBIDDEN,)),
             Outcome.NOT_ASSESSED,
             check=reason_names("no cx_ipam_available_ips", CNS_FORBIDDEN.resource,
                                "pods/proxy is forbidden")),
    RuleCase("IPX-004", "pending-node-not-scraped",
             pool_facts({EMPTY_NODE: 2}, {OTHER_NODE: ROOMY}, gaps=(CNS_FORBIDDEN,)),
             Outcome.NOT_ASSESSED, check=reason_names(CNS_FORBIDDEN.resource, "forbidden")),
    RuleCase("IPX-004", "pods-forbidden",
             pool_facts({}, {EMPTY_NODE: EMPTY, OTHER_NODE: ROOMY},
                        gaps=(report_pb2.Gap(gatherer="nodes", resource="pods/v1",
                                             reason="forbidden"),)),
             Outcome.NOT_ASSESSED, check=reason_names("pods/v1", "forbidden")),
]  # fmt: skip


def test_ipx004_a_pending_node_without_figures_is_named_when_others_are_judged() -> None:
    outcome = evaluate(ip_exhaustion.IPX_004, pool_facts({EMPTY_NODE: 2}, {OTHER_NODE: ROOMY})())
    assert outcome.outcome is Outcome.NOT_ASSESSED
    assert (
        outcome.reason
        == f"1 node(s) with Pending pods have no azure-cns pool figures: {EMPTY_NODE}"
    )


def test_ipx004_pods_pending_on_a_virtual_node_need_no_azure_cns_pool() -> None:
    facts = pool_facts({}, {EMPTY_NODE: ROOMY, OTHER_NODE: ROOMY})()
    virtual = node_object("virtual-node-aci-linux")
    virtual["metadata"]["labels"]["type"] = "virtual-kubelet"
    facts.report.nodes.append(nodes.node(virtual, nodes.PodCounts(2, 0, 2)))
    assert evaluate(ip_exhaustion.IPX_004, facts).outcome is Outcome.PASSED


def test_ipx004_the_empty_node_stands_when_another_is_unknown() -> None:
    facts = pool_facts({EMPTY_NODE: 2, OTHER_NODE: 1}, {EMPTY_NODE: EMPTY})()
    outcome = evaluate(ip_exhaustion.IPX_004, facts)
    assert outcome.outcome is Outcome.FINDINGS
    assert [f.resource for f in outcome.findings] == [f"Node {EMPTY_NODE}"]
    assert OTHER_NODE in outcome.reason
