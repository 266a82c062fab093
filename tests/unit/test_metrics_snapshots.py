"""Metric samples computed at scan time: one cluster's part, and the fleet's merge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from netaudit.collector.metrics import families
from netaudit.collector.metrics.cluster_part import (
    cluster_part,
    dns_zone_mode,
    probe_answered,
    programmed_state,
)
from netaudit.collector.metrics.fleet_snapshot import range_snapshot
from netaudit.collector.metrics.shares import ClusterPart, RangeShare
from netaudit.collector.metrics.snapshot import decode, encode
from netaudit.v1 import inventory_pb2, report_pb2

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SUBNET = (
    "/subscriptions/S1/resourceGroups/RG-Net/providers/Microsoft.Network/virtualNetworks/"
    "vnet-a/subnets/snet-a"
)
CLUSTERS = "providers/microsoft.containerservice/managedclusters"
KEY_A = f"/subscriptions/s1/resourcegroups/rg-a/{CLUSTERS}/aks-a"
KEY_B = f"/subscriptions/s2/resourcegroups/rg-b/{CLUSTERS}/aks-b"


@pytest.mark.parametrize(
    ("private_dns_zone", "mode"),
    [
        ("", "system"),
        ("System", "system"),
        ("none", "none"),
        (
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateDnsZones/"
            "privatelink.westeurope.azmk8s.io",
            "custom",
        ),
    ],
)
def test_dns_zone_mode_of_a_private_cluster(private_dns_zone: str, mode: str) -> None:
    inventory = inventory_pb2.ClusterInventory()
    inventory.api_server_access.enable_private_cluster = True
    inventory.api_server_access.private_dns_zone = private_dns_zone
    assert dns_zone_mode(inventory) == mode


def _gateway(status: str | None, observed: int = 2, generation: int = 2) -> report_pb2.Gateway:
    gateway = report_pb2.Gateway(name="g", generation=generation)
    gateway.conditions.add(type="Accepted", status="True", observed_generation=generation)
    if status is not None:
        gateway.conditions.add(type="Programmed", status=status, observed_generation=observed)
    return gateway


@pytest.mark.parametrize(
    ("gateway", "state"),
    [
        (_gateway("True"), "true"),
        (_gateway("False"), "false"),
        (_gateway("Unknown"), "unknown"),
        (_gateway(None), "unknown"),
        (_gateway("True", observed=1, generation=2), "unknown"),
    ],
)
def test_gateway_programmed_state(gateway: report_pb2.Gateway, state: str) -> None:
    assert programmed_state(gateway) == state


@pytest.mark.parametrize(
    ("probe", "answered"),
    [
        (report_pb2.DnsProbe(rcode="NOERROR", latency_seconds=0.01), True),
        (report_pb2.DnsProbe(rcode="SERVFAIL"), False),
        (report_pb2.DnsProbe(rcode="NXDOMAIN"), False),
        (report_pb2.DnsProbe(error="timeout"), False),
    ],
)
def test_a_probe_fails_unless_it_got_noerror(probe: report_pb2.DnsProbe, answered: bool) -> None:
    assert probe_answered(probe) is answered


def test_kubenet_pod_cidr_is_exported_in_addresses_a_24_per_node() -> None:
    inventory = inventory_pb2.ClusterInventory(arm_resource_id=KEY_A, name="aks-a")
    inventory.network_profile.network_plugin = "kubenet"
    inventory.network_profile.pod_cidrs.append("10.244.0.0/16")
    inventory.agent_pools.add(name="pool1", count=3, max_surge="1")
    report = report_pb2.Report()
    for index in range(3):
        report.nodes.add(name=f"n{index}", pod_cidrs=[f"10.244.{index}.0/24"])
    part = cluster_part(KEY_A, inventory=inventory, report=report, now=NOW)
    [pod_cidr] = [r for r in part.ranges if r.kind == "pod_cidr"]
    assert (pod_cidr.capacity, pod_cidr.used, pod_cidr.required) == (256 * 256, 3 * 256, 4 * 256)


def _part(key: str, labels: tuple[str, str, str], *ranges: RangeShare) -> ClusterPart:
    return ClusterPart(key, labels, ranges)


def _subnet(
    required: float | None, used: float = 100, mode: str = "azure-node-subnet"
) -> RangeShare:
    return RangeShare("node_subnet", SUBNET.lower(), mode, 251, used, required, None)


MERGES = [
    pytest.param(
        [_part(KEY_A, ("s1", "rg-a", "aks-a"), _subnet(120))],
        {"required": [120], "clusters": ["aks-a"], "used": [100]},
        id="one cluster",
    ),
    pytest.param(
        [
            _part(KEY_A, ("s1", "rg-a", "aks-a"), _subnet(120)),
            _part(
                KEY_B,
                ("s2", "rg-b", "aks-b"),
                _subnet(80, used=110, mode="azure-pod-subnet-dynamic"),
            ),
        ],
        {"required": [200], "clusters": ["aks-a", "aks-b"], "used": [110]},
        id="shared by two clusters: one series, needs summed, the freshest use",
    ),
    pytest.param(
        [
            _part(KEY_A, ("s1", "rg-a", "aks-a"), _subnet(120)),
            _part(KEY_B, ("s2", "rg-b", "aks-b"), _subnet(None)),
        ],
        {"required": [], "clusters": ["aks-a", "aks-b"], "used": [100]},
        id="one cluster's need unknown: the sum is unknown",
    ),
]


@pytest.mark.parametrize(("parts", "expected"), MERGES)
def test_a_subnet_is_exported_once_however_many_clusters_use_it(
    parts: list[ClusterPart], expected: dict[str, list[object]]
) -> None:
    snapshot = range_snapshot(parts)
    [capacity] = snapshot[families.RANGE_CAPACITY.name]
    labels = dict(zip(families.RANGE_LABELS, capacity, strict=False))
    assert labels == {
        "range_kind": "node_subnet",
        "ipam_mode": ",".join(sorted({r.ipam_mode for p in parts for r in p.ranges})),
        "subscription_id": "s1",
        "resource_group": "rg-net",
        "virtual_network": "vnet-a",
        "subnet": "snet-a",
        "cluster": "",
        "range": "",
    }
    assert [row[-1] for row in snapshot[families.RANGE_REQUIRED.name]] == expected["required"]
    assert [row[-1] for row in snapshot[families.RANGE_USED.name]] == expected["used"]
    joined = snapshot[families.RANGE_CLUSTER_INFO.name]
    assert [row[-2] for row in joined] == expected["clusters"]
    assert snapshot[families.RANGE_EXHAUSTION.name] == []


def test_pod_cidrs_of_two_clusters_stay_two_series_under_each_cluster() -> None:
    cidr = RangeShare("pod_cidr", "10.244.0.0/16", "azure-overlay", 65536, 512, 1024, None)
    snapshot = range_snapshot(
        [_part(KEY_A, ("s1", "rg-a", "aks-a"), cidr), _part(KEY_B, ("s2", "rg-b", "aks-b"), cidr)]
    )
    rows = snapshot[families.RANGE_UTILIZATION.name]
    assert [(row[2], row[6], row[7], row[8]) for row in rows] == [
        ("s1", "aks-a", "10.244.0.0/16", 512 / 65536),
        ("s2", "aks-b", "10.244.0.0/16", 512 / 65536),
    ]


def test_a_part_round_trips_through_its_encoding() -> None:
    part = ClusterPart(
        KEY_A,
        ("s1", "rg-a", "aks-a"),
        (_subnet(120),),
        {families.COREDNS_READY.name: [["s1", "rg-a", "aks-a", 2]]},
    )
    assert ClusterPart.decode(part.encode()) == part


def test_a_stored_family_whose_labels_changed_is_left_out_not_misread() -> None:
    stale = families.Family(
        "netaudit_coredns_ready_replicas", families.FamilyType.GAUGE, "x", ("cluster",)
    )
    payload = encode({stale.name: [["aks-a", 2]]}, [stale])
    assert decode(payload, families.CLUSTERS) == {}
    assert decode(encode({}, families.CLUSTERS), families.CLUSTERS)[families.GATEWAYS.name] == []


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {families.COREDNS_READY.name: [["s1", "rg-a", "aks-a", 2]]},
        {
            families.COREDNS_READY.name: [["s1", "rg-a", "aks-a", 2], ["s2", 'rg "b"', "ä", 0.5]],
            families.GATEWAYS.name: [["s1", "rg-a", "aks-a", "true", 3]],
        },
    ],
)
def test_a_snapshot_round_trips_through_its_row_by_row_encoding(
    snapshot: dict[str, list[list[str | float]]],
) -> None:
    payload = encode(snapshot, families.CLUSTERS)
    stored = json.loads(payload)
    assert set(stored) == {family.name for family in families.CLUSTERS}
    assert all(stored[f.name]["labels"] == list(f.labels) for f in families.CLUSTERS)
    expected = {f.name: snapshot.get(f.name, []) for f in families.CLUSTERS}
    assert decode(payload, families.CLUSTERS) == expected
