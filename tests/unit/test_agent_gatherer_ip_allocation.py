"""FailedCreatePodSandBox events reduced to IPX-002's evidence: per node and marker, bounded.

Events are hand-made (the fixtures hold none); messages follow the kubelet text quoted in
public issue threads (kubernetes/test-infra#13039, k3s-io/k3s#5885) and, for Azure CNI,
the azure-vnet plugin's CNS error naming SubnetIsFull (domain.md §1.5).
"""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.agent.gatherers.ip_allocation import (
    MAX_MESSAGE_CHARS,
    MAX_PODS_LISTED,
    event_node,
    event_times,
    ip_allocation_failures,
    ip_marker,
)

NODE = "aks-nodepool1-31718369-vmss000001"
HOST_LOCAL_FULL = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    'sandbox "5b1f": plugin type="bridge" name="kubenet" failed (add): failed to allocate for '
    "range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254"
)
CNS_SUBNET_FULL = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    'sandbox "c81d": plugin type="azure-vnet" failed (add): IPAM Invoker Add failed with error: '
    "Failed to get IP address from CNS with error: %w: AllocateIPConfig failed: SubnetIsFull"
)


def event(
    pod: str,
    message: str = HOST_LOCAL_FULL,
    last: str = "2026-11-27T11:50:00Z",
    *,
    first: str = "2026-11-27T11:40:00Z",
    count: int = 1,
    node: str = NODE,
    reason: str = "FailedCreatePodSandBox",
) -> dict[str, Any]:
    namespace, name = pod.split("/")
    return {
        "metadata": {"name": f"{name}.17", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": name},
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": first,
        "lastTimestamp": last,
        "count": count,
    }


@pytest.mark.parametrize(
    ("message", "marker"),
    [
        (HOST_LOCAL_FULL, "failed to allocate for range"),
        (
            "... no IP addresses available in range set: 10.42.1.1-10.42.1.254",
            "no IP addresses available",
        ),
        (CNS_SUBNET_FULL, "SubnetIsFull"),
        ("NC status NCUpdateSubnetFullError", "NCUpdateSubnetFullError"),
        ("failed to setup network for sandbox: cni plugin not initialized", None),
    ],
)
def test_markers_say_the_sandbox_got_no_ip(message: str, marker: str | None) -> None:
    assert ip_marker(message) == marker


def test_events_aggregate_per_node_and_marker() -> None:
    evidence = ip_allocation_failures(
        [
            event("web/a", count=3, last="2026-11-27T11:45:00Z"),
            event("web/b", last="2026-11-27T11:50:00Z", first="2026-11-27T11:30:00Z"),
            event("web/c", CNS_SUBNET_FULL),
            event("web/d", node="aks-nodepool1-31718369-vmss000002"),
            event("web/e", "failed to setup network for sandbox: cni plugin not initialized"),
        ]
    )
    assert evidence.sandbox_events_seen == 5
    by_key = {(f.node, f.marker): f for f in evidence.failures}
    assert sorted(by_key) == [
        (NODE, "SubnetIsFull"),
        (NODE, "failed to allocate for range"),
        ("aks-nodepool1-31718369-vmss000002", "failed to allocate for range"),
    ]
    host_local = by_key[(NODE, "failed to allocate for range")]
    assert (host_local.events, host_local.occurrences, host_local.pods_total) == (2, 4, 2)
    assert list(host_local.pods) == ["web/b", "web/a"]
    assert host_local.first_seen.ToJsonString() == "2026-11-27T11:30:00Z"
    assert host_local.last_seen.ToJsonString() == "2026-11-27T11:50:00Z"
    assert host_local.message == HOST_LOCAL_FULL


def test_pods_are_bounded_and_the_message_truncated() -> None:
    events = [
        event(f"web/p{i}", HOST_LOCAL_FULL + " " + "x" * 2000, f"2026-11-27T11:{i:02d}:00Z")
        for i in range(20)
    ]
    (failure,) = ip_allocation_failures(events).failures
    assert failure.pods_total == 20
    assert list(failure.pods) == [f"web/p{i}" for i in range(19, 19 - MAX_PODS_LISTED, -1)]
    assert len(failure.message) == MAX_MESSAGE_CHARS


def test_events_of_other_reasons_are_skipped() -> None:
    evidence = ip_allocation_failures([event("web/a", reason="Scheduled")])
    assert evidence.sandbox_events_seen == 0 and not evidence.failures


def test_events_k8s_io_times_counts_and_reporter_are_read() -> None:
    recorded = {
        "metadata": {
            "name": "a.1",
            "namespace": "web",
            "creationTimestamp": "2026-11-27T11:00:00Z",
        },
        "involvedObject": {"kind": "Pod", "namespace": "web", "name": "a"},
        "reason": "FailedCreatePodSandBox",
        "message": CNS_SUBNET_FULL,
        "eventTime": "2026-11-27T11:10:00.123456Z",
        "series": {"count": 7, "lastObservedTime": "2026-11-27T11:55:00.000001Z"},
        "reportingComponent": "kubelet",
        "reportingInstance": NODE,
    }
    first, last = event_times(recorded)
    assert (first is not None and first.minute, last is not None and last.minute) == (10, 55)
    assert event_node(recorded) == NODE
    (failure,) = ip_allocation_failures([recorded]).failures
    assert (failure.node, failure.occurrences) == (NODE, 7)
