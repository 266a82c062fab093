"""Prometheus metrics read from the store (every replica answers the same).

Scans and inventory refreshes compute the samples and store them as snapshots
(``netaudit.collector.metrics``); a scrape reads those few rows, plus a handful of
figures the store keeps anyway (when each agent last reported, the scans), and renders.
Rendering (prometheus_client.generate_latest) is separate from serving; the collector
is a plain object with its dependencies as parameters.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata

from prometheus_client.core import InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from netaudit.collector.metrics import families
from netaudit.collector.metrics.families import Family
from netaudit.collector.metrics.labels import cluster_label_values
from netaudit.collector.metrics.snapshot import decode
from netaudit.collector.store import Store

log = logging.getLogger(__name__)


def family_of(spec: Family, rows: Sequence[Sequence[object]]) -> Metric:
    """The family with one sample per row (label values in the spec's order, then the
    value), built without per-sample validation: the rows were made from the same specs."""
    metric = Metric(spec.name, spec.help, str(spec.type))
    name, labels = spec.sample_name, spec.labels
    # zip stops at the labels: the row's last item is the value
    metric.samples = [
        Sample(name, dict(zip(labels, row, strict=False)), row[-1])  # type: ignore[arg-type]
        for row in rows
    ]
    return metric


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a scrape decodes and builds its samples.

    They are hundreds of thousands of fresh, acyclic objects at 10,000 clusters: each
    allocation burst triggers full collections that traverse them all again, which more
    than doubles the decode time. Nothing they hold is cyclic, so the pause loses nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class StoreCollector(Collector):
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        started = self._clock()
        try:
            with gc_paused():
                collected = [*self._stored_families(), *self._live_families()]
        except Exception:  # a broken store must not turn into a silent partial scrape
            log.exception("metrics: reading the store failed")
            yield family_of(families.STORE_UP, [[0]])
            return
        yield from collected
        yield family_of(families.STORE_UP, [[1]])
        yield family_of(families.COLLECT_DURATION, [[self._clock() - started]])
        info = InfoMetricFamily("netaudit_build", "Version of the running collector.")
        info.add_metric([], {"version": metadata.version("aks-netaudit")})
        yield info

    def _stored_families(self) -> list[Metric]:
        """Every family of every snapshot kind, empty until a scan or refresh stored it."""
        payloads = self._store.metric_snapshots()
        out: list[Metric] = []
        for kind, specs in families.STORED.items():
            payload = payloads.get(kind)
            snapshot = decode(payload, specs) if payload is not None else {}
            out.extend(family_of(spec, snapshot.get(spec.name, [])) for spec in specs)
        return out

    def _live_families(self) -> list[Metric]:
        agents = [
            [*cluster_label_values(a.cluster_key, a.cluster_name), a.received_at.timestamp()]
            for a in self._store.agents_last_report()
        ]
        scan = self._store.last_scan(finished=True)
        finished = []
        duration = []
        if scan is not None and scan.finished_at is not None:
            finished.append([scan.finished_at.timestamp()])
            duration.append([(scan.finished_at - scan.started_at).total_seconds()])
        statuses = sorted(self._store.scans_by_status().items())
        size = self._store.size_bytes()
        totals = self._store.counters()
        return [
            *(family_of(spec, [[totals.get(spec.name, 0)]]) for spec in families.STORED_COUNTERS),
            family_of(families.AGENT_LAST_REPORT, agents),
            family_of(families.LAST_SCAN, finished),
            family_of(families.SCAN_DURATION, duration),
            family_of(families.SCANS, [[status, count] for status, count in statuses]),
            family_of(families.STORE_SIZE, [] if size is None else [[size]]),
        ]
