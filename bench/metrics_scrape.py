"""A scrape of a large fleet's stored metrics against generate_latest of the same samples.

The fleet is synthetic: clusters in pairs sharing a node subnet and VNet (every other pair
on Azure CNI Overlay with a pod CIDR), each with a service CIDR and an agent report
(CoreDNS, two DNS probes, a Gateway, three nodes). The samples are computed and stored the
way a refresh does (``refresh_parts``, then ``publish``); the scrape then only reads and
renders. The floor is prometheus_client's ``generate_latest`` over the very families the
scrape yields, collected once beforehand and held in memory.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from netaudit.collector.exporter import StoreCollector
from netaudit.collector.metrics.publish import publish, refresh_parts
from netaudit.collector.store import Store, upgrade
from netaudit.v1 import inventory_pb2, report_pb2

SUBSCRIPTIONS = 50
PARTS_PER_BATCH = 500


def inventory(i: int) -> inventory_pb2.ClusterInventory:
    """Cluster ``i``; clusters 2k and 2k+1 share their node subnet and VNet."""
    sub = f"{i % SUBSCRIPTIONS:08d}-0000-0000-0000-000000000000"
    pair = i // 2
    overlay = pair % 2 == 1
    inv = inventory_pb2.ClusterInventory(
        arm_resource_id=f"/subscriptions/{sub}/resourceGroups/rg{i}/providers/"
        f"Microsoft.ContainerService/managedClusters/aks-{i}",
        name=f"aks-{i}",
        kubernetes_version="1.30.4",
    )
    inv.network_profile.network_plugin = "azure"
    inv.network_profile.service_cidrs.append("10.0.0.0/16")
    if overlay:
        inv.network_profile.network_plugin_mode = "overlay"
        inv.network_profile.pod_cidrs.append("10.244.0.0/16")
    subnet_id = (
        f"/subscriptions/{sub}/resourceGroups/net{pair}/providers/Microsoft.Network/"
        f"virtualNetworks/vnet-{pair}/subnets/snet-{pair}"
    )
    inv.agent_pools.add(
        name="pool1", count=10, max_pods=30 if not overlay else 250, vnet_subnet_id=subnet_id
    )
    inv.subnets.add(id=subnet_id, name=f"snet-{pair}", address_prefixes=["10.1.0.0/22"])
    vnet = inv.virtual_networks.add(id=subnet_id.rsplit("/subnets/", 1)[0], name=f"vnet-{pair}")
    vnet.subnet_usages.add(subnet_id=subnet_id, current_value=310, limit=1019)
    inv.refreshed_at.FromDatetime(datetime.now(UTC))
    return inv


def report(cluster: inventory_pb2.ClusterInventory) -> report_pb2.Report:
    r = report_pb2.Report(report_id=f"bench-{cluster.name}", agent_epoch=1, sequence=1)
    r.cluster.arm_resource_id = cluster.arm_resource_id
    r.cluster.name = cluster.name
    r.coredns.deployments.add(namespace="kube-system", name="coredns", ready_replicas=2)
    r.coredns.probes.add(name="kubernetes.default.svc.cluster.local", rcode="NOERROR",
                         latency_seconds=0.004)  # fmt: skip
    r.coredns.probes.add(name="login.microsoftonline.com", rcode="NOERROR", latency_seconds=0.02)
    gateway = r.gateway_api.gateways.add(namespace="web", name="gw", generation=1)
    gateway.conditions.add(type="Programmed", status="True", observed_generation=1)
    r.services.cluster_ips.extend(["10.0.0.1", "10.0.0.10"])
    for n in range(3):
        r.nodes.add(name=f"node-{n}", pod_cidrs=[f"10.244.{n}.0/24"])
    return r


def fill(store: Store, clusters: int) -> None:
    now = datetime.now(UTC)
    for i in range(clusters):
        cluster = inventory(i)
        store.save_inventory(cluster)
        store.commit_report(report(cluster), agent_id="bench", received_at=now)
    keys = store.cluster_keys()
    for start in range(0, len(keys), PARTS_PER_BATCH):
        refresh_parts(store, keys[start : start + PARTS_PER_BATCH], now=now)


class _Prebuilt:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


@dataclass(frozen=True)
class ScrapeResult:
    clusters: int
    samples: int
    scrape_seconds: float
    floor_seconds: float
    publish_seconds: float
    payload_bytes: int

    @property
    def ratio(self) -> float:
        return self.scrape_seconds / self.floor_seconds


def measure(clusters: int, median: Callable[[Callable[[], object]], float]) -> ScrapeResult:
    """Fill a store with ``clusters``, publish, then time the scrape against its floor
    (``median`` times one action)."""
    with tempfile.TemporaryDirectory(prefix="netaudit-metrics-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        with Store(url) as store:
            print(f"  {clusters:,} clusters: filling the store", flush=True)
            fill(store, clusters)
            started = time.perf_counter()
            publish(store)
            publish_seconds = time.perf_counter() - started
            payload = sum(len(p) for p in store.metric_snapshots().values())
            scraped = CollectorRegistry()
            scraped.register(StoreCollector(store))
            prebuilt = CollectorRegistry()
            families = list(StoreCollector(store).collect())
            prebuilt.register(_Prebuilt(families))
            samples = sum(len(f.samples) for f in families)
            print(f"  {clusters:,} clusters: scraping {samples:,} samples", flush=True)
            scrape = median(lambda: generate_latest(scraped))
            floor = median(lambda: generate_latest(prebuilt))
    return ScrapeResult(clusters, samples, scrape, floor, publish_seconds, payload)
