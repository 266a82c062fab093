"""The usage history: one point per subnet per refresh, pruned past retention, read back
oldest first (SQLite and the machine's PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from netaudit.collector.store import Store
from netaudit.v1 import inventory_pb2

T0 = datetime(2026, 11, 1, tzinfo=UTC)
VNET = "/subscriptions/s1/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v"
SUBNET = f"{VNET}/subnets/Shared"


def cluster_key(name: str) -> str:
    return (
        "/subscriptions/s1/resourcegroups/rg/providers/microsoft.containerservice/"
        f"managedclusters/{name}"
    )


def inventory(name: str, used: float, at: datetime) -> inventory_pb2.ClusterInventory:
    """A hand-made inventory whose VNet usages give the shared subnet ``used`` IPs."""
    result = inventory_pb2.ClusterInventory(arm_resource_id=cluster_key(name), name=name)
    result.refreshed_at.FromDatetime(at)
    vnet = result.virtual_networks.add(id=VNET)
    vnet.subnet_usages.add(subnet_id=SUBNET, current_value=used, limit=251)
    vnet.subnet_usages.add(subnet_id=f"{VNET}/subnets/GatewaySubnet", current_value=2, limit=-1)
    return result


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url, usage_retention=timedelta(days=10)) as opened:
        yield opened


def test_each_refresh_adds_a_point_and_old_points_are_pruned(store: Store) -> None:
    for day in range(15):
        store.save_inventory(inventory("a", 100 + day, T0 + timedelta(days=day)))
    (series,) = store.usage_history([SUBNET], since=T0)
    assert series.range_key == SUBNET.lower()
    days = [p.at.ToDatetime(tzinfo=UTC) for p in series.points]
    assert days[0] == T0 + timedelta(days=4), "points older than the 10-day retention are gone"
    assert [p.used for p in series.points] == list(range(104, 115))
    assert {p.capacity for p in series.points} == {251}


def test_a_subnet_two_clusters_share_gets_one_point_per_refresh_time(store: Store) -> None:
    store.save_inventory(inventory("a", 120, T0))
    store.save_inventory(inventory("b", 120, T0))
    store.save_inventory(inventory("b", 125, T0 + timedelta(hours=1)))
    (series,) = store.usage_history([SUBNET.upper()], since=T0)
    assert [p.used for p in series.points] == [120, 125]


def test_an_older_refresh_adds_its_point_without_replacing_the_inventory(store: Store) -> None:
    store.save_inventory(inventory("a", 130, T0 + timedelta(days=1)))
    store.save_inventory(inventory("a", 90, T0))  # a slow, older refresh arriving late
    (series,) = store.usage_history([SUBNET], since=T0 - timedelta(days=1))
    assert [p.used for p in series.points] == [90, 130]
    kept = store.inventory(cluster_key("a"))
    assert kept is not None
    assert kept.virtual_networks[0].subnet_usages[0].current_value == 130


def test_rows_without_a_limit_are_not_history(store: Store) -> None:
    store.save_inventory(inventory("a", 130, T0))
    assert store.usage_history([f"{VNET}/subnets/GatewaySubnet"], since=T0) == []
