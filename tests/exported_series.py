"""Every series name the collector's /metrics can carry, as PromQL reads them.

Built as `netaudit serve` builds its registry: the store's collector, the broker's queue
depth (against this machine's Redis) and the ingest servicer's own counters (counters as
their `_total` samples). Dashboards and alert
rules are checked against this, so neither can read a series nobody exports.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from netaudit.collector.exporter import StoreCollector
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.metrics.queue_depth import QueueDepthCollector
from netaudit.collector.store import Store, upgrade

LOCAL_REDIS = "redis://127.0.0.1:6379/14"


def exported_series(folder: Path) -> set[str]:
    url = f"sqlite:///{folder / 'exported-series.db'}"
    upgrade(url)
    with Store(url) as store:
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))
        registry.register(QueueDepthCollector(LOCAL_REDIS, "netaudit-exported-series"))
        IngestServicer(store, IngestLimits(1 << 20, 60), registry=registry)
        return {
            name
            for family in registry.collect()
            for name in (family.name, f"{family.name}_total", f"{family.name}_info")
            if _is_sample_name(family.type, family.name, name)
        }


def _is_sample_name(kind: str, family: str, name: str) -> bool:
    if kind == "counter":
        return name == f"{family}_total"
    if kind == "info":
        return name == f"{family}_info"
    return name == family
