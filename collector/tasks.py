"""Celery tasks: thin, idempotent, take ids and call pure code.

A scan fans out: scan_fleet ▶ one scan_clusters per chunk of clusters ▶
finish_scan (the fleet-wide reduce over the stored fleet claims). Inventory
refresh fans out per subscription. Every task can run twice without harm
(findings upsert by fingerprint, outcomes by (cluster, rule), a cluster's
verdicts are written only by the newest scan that reached it), so acks_late +
reject_on_worker_lost are safe.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery, chord
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from netaudit.collector.analysis.fleet import cluster_key, pool_subnet_ids
from netaudit.collector.config import Settings
from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.facts import assemble_facts
from netaudit.collector.inventory.arm import (
    ArmReader,
    ArmRequestCounts,
    SubscriptionAccessDenied,
    TransientArmError,
    UnknownSubscriptionError,
    make_credential,
)
from netaudit.collector.inventory.pacing import ArmLimits, BucketSize, Pacer, shared_pacer
from netaudit.collector.metrics.cluster_part import cluster_part
from netaudit.collector.metrics.families import ARM_REQUESTS, ARM_THROTTLED
from netaudit.collector.metrics.publish import USAGE_LOOKBACK, publish, refresh_parts, store_parts
from netaudit.collector.redaction import mask_url
from netaudit.collector.rules import RULES, RuleSettings, evaluate_cluster
from netaudit.collector.rules.cni import IP_SHORTFALL_LASTS
from netaudit.collector.rules.engine import FleetEvaluation, evaluate_fleet
from netaudit.collector.store import Store, StoreError, StoreUnavailable
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

app = Celery("netaudit", set_as_current=False)


class _WorkerState:
    """Per-process state: settings, and a store opened lazily after fork."""

    settings: Settings | None = None
    store: Store | None = None
    store_pid: int = 0


def broker_url(settings: Settings) -> str:
    return settings.broker.url or f"redis+socket://{settings.broker_dir / 'redis.sock'}"


def result_backend_url(settings: Settings) -> str:
    if settings.broker.result_backend:
        return settings.broker.result_backend
    url = broker_url(settings)
    if url.startswith(("redis://", "rediss://", "redis+socket://")):
        return url
    raise ValueError("broker.result_backend is required when the broker is not Redis")


def configure_app(settings: Settings) -> Celery:
    limit = settings.broker.task_time_limit_seconds
    visibility = settings.broker.effective_visibility_timeout
    app.conf.update(
        broker_url=broker_url(settings),
        result_backend=result_backend_url(settings),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=limit,
        task_soft_time_limit=max(1, int(limit * 0.9)),
        broker_transport_options={
            "visibility_timeout": visibility,
            # kombu sweeps for abandoned tasks every interval * throttle seconds
            # (10 * 10 by default); sweep often enough that a dead worker's task
            # comes back soon after its visibility timeout.
            "unacked_restore_interval": settings.broker.restore_interval,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        # A worker that loses the broker reconnects by itself (a restarted embedded
        # Redis is back within seconds) ...
        broker_connection_retry=True,
        # ... and drops what it was running: those messages are redelivered or the scan
        # re-dispatched, so finishing them would only run them twice.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # A CLI publishing while the broker restarts waits for it rather than failing.
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        result_expires=3600,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        task_default_queue=settings.broker.queue,
    )
    _WorkerState.settings = settings
    previous = _WorkerState.store
    if previous is not None and _WorkerState.store_pid == os.getpid():
        previous.close()  # reconfigured in the same process: do not leak its connections
    _WorkerState.store = None
    return app


# kombu's retry policy for publishing: about 10 s of attempts, longer than the
# embedded Redis takes to be restarted by `netaudit serve`.
PUBLISH_RETRY_POLICY = {
    "max_retries": 10,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


def _settings() -> Settings:
    if _WorkerState.settings is None:
        raise RuntimeError("configure_app(settings) was not called in this process")
    return _WorkerState.settings


def _store() -> Store:
    # SQLAlchemy engines must not cross a fork: open one per worker process.
    if _WorkerState.store is None or _WorkerState.store_pid != os.getpid():
        _WorkerState.store = Store(_settings().store_url)
        _WorkerState.store_pid = os.getpid()
    return _WorkerState.store


# Tasks that only read and write the store: idempotent, so acks_late is safe, and
# retried with backoff while the store is briefly unavailable (locked, failover).
STORE_TASK: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (StoreUnavailable,),
    "retry_backoff": True,
    "max_retries": 5,
}


@app.task(
    name="netaudit.scan_fleet",
    **STORE_TASK,
)
def scan_fleet(scan_id: int) -> None:
    """Fan out one scan_clusters task per chunk of clusters, then finish_scan (the
    fleet-wide reduce; fail_scan on error). Messages carry cluster keys only."""
    store = _store()
    keys = store.cluster_keys()
    log.info("scan started", extra={"scan_id": scan_id, "clusters": len(keys)})
    size = _settings().scan.clusters_per_task
    chunks = [keys[start : start + size] for start in range(0, len(keys), size)]
    if not chunks:
        finish_scan.delay([], scan_id)
        return
    chord(scan_clusters.s(scan_id, chunk) for chunk in chunks)(
        finish_scan.s(scan_id).on_error(fail_scan.s(scan_id))
    )


def _mark_failed(scan_id: int, exc: BaseException) -> None:
    error = f"{type(exc).__name__}: {exc}"
    _store().finish_scan(scan_id, status="failed", clusters=0, findings=0, error=error)
    log.error("scan failed", extra={"scan_id": scan_id, "error": error})


@app.task(name="netaudit.fail_scan")
def fail_scan(request: Any, exc: BaseException, traceback: Any, scan_id: int) -> None:
    """Errback of the scan's chord: a cluster task failed for good, so the scan did. A
    task that already recorded why (scan_clusters) is not overwritten by the chord's
    wrapper error."""
    record = _store().scan(scan_id)
    if record is None or record.finished_at is None:
        _mark_failed(scan_id, exc)


@app.task(
    name="netaudit.scan_clusters",
    **STORE_TASK,
)
def scan_clusters(scan_id: int, cluster_keys: list[str]) -> dict[str, int]:
    """Evaluate every rule on a chunk of clusters and record their verdicts together."""
    try:
        evaluation = evaluate_chunk(_store(), scan_id, cluster_keys, _settings().rules)
    except StoreUnavailable:
        raise
    except StoreError as exc:  # an unreadable record: retrying cannot help
        _mark_failed(scan_id, exc)
        raise
    log.info(
        "clusters scanned",
        extra={"scan_id": scan_id, "clusters": evaluation["clusters"]},
    )
    return evaluation


def evaluate_chunk(
    store: Store, scan_id: int, cluster_keys: list[str], settings: RuleSettings
) -> dict[str, int]:
    """Load the chunk's facts in a few queries, evaluate, record in one transaction; store
    the chunk's share of the metric samples from the same facts."""
    now = datetime.now(UTC)
    reports = store.latest_reports(cluster_keys)
    earlier = store.earlier_reports(cluster_keys, IP_SHORTFALL_LASTS)
    inventories = store.inventories(cluster_keys)
    history = {
        usage.range_key: usage
        for usage in store.usage_history(
            {s for i in inventories.values() for s in pool_subnet_ids(i)},
            since=now - USAGE_LOOKBACK,
        )
    }
    evaluations = []
    parts = []
    for key in cluster_keys:
        stored = reports.get(key)
        inventory = inventories.get(key)
        subnets = pool_subnet_ids(inventory) if inventory is not None else set()
        usage = [history[s] for s in sorted(subnets) if s in history]
        report = stored.report if stored else None
        before = earlier.get(key)
        facts = assemble_facts(
            key,
            report=report,
            report_received_at=stored.received_at if stored else None,
            inventory=inventory,
            now=now,
            usage_history=usage,
            earlier_report=before.report if before else None,
            earlier_received_at=before.received_at if before else None,
        )
        evaluations.append(evaluate_cluster(facts, settings, RULES))
        if inventory is not None and inventory.HasField("deleted_at"):
            continue  # ARM deleted it: its series stay stopped
        parts.append(cluster_part(key, inventory=inventory, report=report, usage=usage, now=now))
    recorded = store.record_evaluations(scan_id, evaluations, now=now)
    store_parts(store, parts)
    return {"clusters": recorded.clusters, "findings": recorded.findings}


@app.task(
    name="netaudit.finish_scan",
    **STORE_TASK,
)
def finish_scan(results: list[dict[str, int]], scan_id: int) -> None:
    """The fleet-wide reduce, the metrics, then the scan's summary."""
    clusters, findings = conclude_scan(_store(), scan_id, results, _settings().rules)
    log.info(
        "scan finished",
        extra={"scan_id": scan_id, "clusters": clusters, "findings": findings},
    )


def conclude_scan(
    store: Store, scan_id: int, results: list[dict[str, int]], settings: RuleSettings
) -> tuple[int, int]:
    """After every chunk: the fleet-wide findings, the metrics from every cluster's part,
    then the scan's summary (so the metrics are stored by the time the scan shows as
    finished). Returns (clusters, findings)."""
    fleet = reduce_fleet(store, scan_id, settings)
    publish(store, scan_id=scan_id)
    clusters = sum(r["clusters"] for r in results)
    findings = sum(r["findings"] for r in results) + len(fleet.findings)
    if not store.finish_scan(
        scan_id,
        status="succeeded",
        clusters=clusters,
        findings=findings,
        error="; ".join(fleet.errors),
    ):
        log.warning(
            "scan had already ended (failed at its deadline); its late result is not its verdict",
            extra={"scan_id": scan_id},
        )
    return clusters, findings


def reduce_fleet(store: Store, scan_id: int, settings: RuleSettings) -> FleetEvaluation:
    """Evaluate the fleet-wide rules over the shared claims and record their findings."""
    fleet = evaluate_fleet(
        lambda kind, per_claim: store.shared_claims(kind, per_claim=per_claim), settings, RULES
    )
    store.record_fleet_findings(scan_id, fleet.rule_ids, fleet.findings, now=datetime.now(UTC))
    return fleet


@app.task(
    name="netaudit.refresh_subscription",
    acks_late=True,
    autoretry_for=(TransientArmError,),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=5,
)
def refresh_subscription(subscription_id: str, full: bool = False) -> list[Any]:
    """Read one subscription's clusters from ARM (in detail those that changed, all with
    ``full``) and store their inventories: [clusters, "" or why the subscription was not
    read]. A subscription the credential may not read, or ARM does not know, is a gap:
    the refresh of the others goes on and the metrics are published."""
    settings = _settings()
    counts = ArmRequestCounts()
    store = _store()
    reader = _reader(settings, store, counts, full=full)
    try:
        inventories = reader.read_subscription(subscription_id)
    except (SubscriptionAccessDenied, UnknownSubscriptionError) as exc:
        log.warning(
            "subscription not read", extra={"subscription": subscription_id, "error": str(exc)}
        )
        return [0, str(exc)]
    finally:  # a failed read's requests and throttles count too
        store.add_to_counters(
            {ARM_REQUESTS.name: counts.requests, ARM_THROTTLED.name: counts.throttled}
        )
    _store_inventories(store, inventories)
    log.info(
        "inventory refreshed",
        extra={"subscription": subscription_id, "clusters": len(inventories)},
    )
    return [_live(inventories), ""]


@app.task(
    name="netaudit.refresh_fleet",
    acks_late=True,
    autoretry_for=(TransientArmError,),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=5,
)
def refresh_fleet(subscriptions: list[str], full: bool = False) -> list[list[Any]]:
    """inventory.listing resource-graph: one Resource Graph query lists the clusters of a
    batch of inventory.max_concurrent_subscriptions subscriptions, read at once."""
    settings = _settings()
    counts = ArmRequestCounts()
    store = _store()
    reader = _reader(settings, store, counts, full=full, subscriptions=subscriptions)
    try:
        inventories = reader.read()
    finally:
        store.add_to_counters(
            {ARM_REQUESTS.name: counts.requests, ARM_THROTTLED.name: counts.throttled}
        )
    _store_inventories(store, inventories)
    return [[_live(inventories), ""], *([0, gap.message] for gap in reader.subscription_gaps)]


def _reader(
    settings: Settings,
    store: Store,
    counts: ArmRequestCounts,
    *,
    full: bool,
    subscriptions: list[str] | None = None,
) -> ArmReader:
    inventory = settings.inventory
    azure = settings.azure
    return ArmReader(
        make_credential(azure),
        subscriptions if subscriptions is not None else azure.subscriptions,
        base_url=azure.arm_url or None,
        connection_verify=str(azure.ca_bundle) if azure.ca_bundle else None,
        counts=counts,
        latest_report=lambda key: _latest_report(store, key),
        pacer=_pacer(settings),
        stored=store.subscription_inventories,
        full=full,
        listing=inventory.listing,
        max_concurrent_subscriptions=inventory.max_concurrent_subscriptions,
        details_max_age=(
            timedelta(seconds=inventory.details_max_age_seconds)
            if inventory.details_max_age_seconds
            else None
        ),
    )


def _pacer(settings: Settings) -> Pacer | None:
    """The process's pacer of the configured principal (None with pacing off)."""
    inventory = settings.inventory
    if not inventory.pacing:
        return None
    limits = ArmLimits(
        subscription_reads=BucketSize(
            inventory.subscription_reads_burst, inventory.subscription_reads_per_second
        ),
        list_managed_clusters=BucketSize(
            inventory.managed_cluster_list_burst, inventory.managed_cluster_list_per_second
        ),
        get_managed_cluster=BucketSize(
            inventory.managed_cluster_get_burst, inventory.managed_cluster_get_per_second
        ),
        other_managed_cluster=BucketSize(
            inventory.managed_cluster_get_burst, inventory.managed_cluster_get_per_second
        ),
        resource_graph=BucketSize(
            inventory.resource_graph_burst, inventory.resource_graph_per_second
        ),
    )
    azure = settings.azure
    principal = azure.client_id or azure.managed_identity_client_id or str(azure.credential)
    return shared_pacer(principal, limits)


def _store_inventories(store: Store, inventories: list[Any]) -> None:
    for inventory in inventories:
        store.save_inventory(inventory)
    refresh_parts(
        store,
        [cluster_key(i.arm_resource_id) for i in inventories],
        now=datetime.now(UTC),
    )


def _live(inventories: list[Any]) -> int:
    """Clusters ARM still has (deleted ones are stored, not counted)."""
    return sum(1 for i in inventories if not i.HasField("deleted_at"))


def _latest_report(store: Store, cluster: str) -> report_pb2.Report | None:
    """The cluster's latest agent report: its ExternalDNS instances say which private zones
    the refresh reads beyond the linked ones."""
    stored = store.latest_report(cluster)
    return stored.report if stored is not None else None


@app.task(name="netaudit.publish_metrics", **STORE_TASK)
def publish_metrics(results: list[Any]) -> list[Any]:
    """The end of an inventory refresh: merge the clusters' metric parts into the snapshots
    /metrics reads. Returns [clusters read, [why each unread subscription was not read]]."""
    publish(_store())
    rows = [row for result in results for row in _rows(result)]
    return [sum(int(clusters) for clusters, _ in rows), [gap for _, gap in rows if gap]]


def _rows(result: Any) -> list[list[Any]]:
    """refresh_subscription gives one [clusters, gap], refresh_fleet a list of them."""
    if result and isinstance(result[0], list):
        return list(result)
    return [result]


def start_inventory_refresh(subscriptions: list[str], full: bool = False) -> AsyncResult[Any]:
    """Hand the refresh of the subscriptions to the workers (one task per subscription, or
    one Resource Graph task per batch with inventory.listing resource-graph), then the
    metrics' publication; the result holds the clusters read and the subscriptions not."""
    inventory = _settings().inventory
    if inventory.listing == "resource-graph":
        # One task per batch, its subscriptions read at once: a task's time stays about
        # one subscription's, whatever the fleet's size.
        size = inventory.max_concurrent_subscriptions
        batches = [
            subscriptions[start : start + size] for start in range(0, len(subscriptions), size)
        ]
        return chord(refresh_fleet.s(batch, full) for batch in batches)(publish_metrics.s())
    return chord(refresh_subscription.s(sub, full) for sub in subscriptions)(publish_metrics.s())


@dataclass(frozen=True)
class RefreshOutcome:
    clusters: int
    # One line per subscription not read (forbidden, unknown to ARM).
    gaps: list[str]


PROGRESS_POLL_SECONDS = 2.0


def run_inventory_refresh(
    subscriptions: list[str],
    timeout: float,
    full: bool = False,
    progress: Callable[[str], None] = lambda _line: None,
) -> RefreshOutcome:
    """Refresh the subscriptions in the workers, then publish the metrics; ``progress``
    hears how many subscriptions are done while a long refresh runs.

    Raises the builtin TimeoutError when the workers do not answer in time.
    """
    result = start_inventory_refresh(subscriptions, full)
    deadline = time.monotonic() + timeout
    done = 0
    while True:
        remaining = deadline - time.monotonic()
        try:
            clusters, gaps = result.get(
                timeout=max(min(PROGRESS_POLL_SECONDS, remaining), 0.01), propagate=True
            )
            break
        except CeleryTimeoutError as exc:
            if remaining <= PROGRESS_POLL_SECONDS:
                raise TimeoutError(str(exc)) from exc
        header = result.parent
        finished = header.completed_count() if header is not None else 0
        if finished != done and len(subscriptions) > 1:
            done = finished
            progress(f"{done}/{len(subscriptions)} subscription(s) read")
    return RefreshOutcome(int(clusters), [str(g) for g in gaps])


def enqueue_scan(scan_id: int) -> None:
    """Publish the scan's first task; ServiceUnavailable (one line) when the broker does not
    take it after a few quick retries (about 2 s: the broker answered a moment ago)."""
    try:
        # No result to wait for (the caller polls the scan's row): ignoring it also skips
        # subscribing to the result backend, which retried a down broker for 20 s and
        # ended in a traceback.
        scan_fleet.apply_async(
            (scan_id,), ignore_result=True, retry=True, retry_policy=_PUBLISH_RETRY
        )
    except (OperationalError, OSError) as exc:
        raise ServiceUnavailable(
            f"{_broker_name(_settings())} did not take the scan: {_first_line(exc)}; "
            f"{_how_to_reach_broker(_settings())}"
        ) from exc


def begin_scan(store: Store) -> int:
    """Record a new scan and hand it to the workers; its id. The one way a scan starts,
    from `netaudit scan` (after require_broker and wait_for_worker) and from `netaudit beat`
    alike. A scan the broker refused leaves no row, or a failed one if it recorded anything."""
    scan_id = store.start_scan()
    try:
        enqueue_scan(scan_id)
    except ServiceUnavailable as exc:
        if not store.discard_scan(scan_id):
            store.finish_scan(scan_id, status="failed", clusters=0, findings=0, error=str(exc))
        raise
    return scan_id


# Sent by `netaudit beat`: nobody waits for their results, and a trigger that waited
# longer than its interval in the queue (no worker running) expires, superseded by the next.
@app.task(name="netaudit.scheduled_scan", ignore_result=True, **STORE_TASK)
def scheduled_scan() -> None:
    """Start a scan as `netaudit scan` does, without waiting for it."""
    scan_id = begin_scan(_store())
    log.info("scheduled scan started", extra={"scan_id": scan_id})


@app.task(name="netaudit.scheduled_inventory_refresh", ignore_result=True)
def scheduled_inventory_refresh() -> None:
    """Start a refresh of the configured subscriptions as `netaudit inventory refresh` does,
    without waiting for it."""
    subscriptions = _settings().azure.subscriptions
    if not subscriptions:
        log.warning("scheduled inventory refresh skipped: azure.subscriptions is empty")
        return
    start_inventory_refresh(subscriptions)
    log.info("scheduled inventory refresh started", extra={"subscriptions": len(subscriptions)})


def require_broker(settings: Settings, timeout: float) -> None:
    """ServiceUnavailable, in one line saying how to start or point at it, unless the broker
    (and a result backend of its own) accepts a connection within ``timeout`` seconds.
    Checked before anything is recorded, so an unreachable broker leaves no trace."""
    problem = _connection_problem(broker_url(settings), timeout)
    if problem is not None:
        raise ServiceUnavailable(
            f"{_broker_name(settings)} is unreachable ({problem}); {_how_to_reach_broker(settings)}"
        )
    backend = result_backend_url(settings)
    if backend != broker_url(settings) and backend.startswith(_KOMBU_SCHEMES):
        problem = _connection_problem(backend, timeout)
        if problem is not None:
            raise ServiceUnavailable(
                f"result backend {mask_url(backend)} is unreachable ({problem}); start it, or "
                "point broker.result_backend (NETAUDIT_BROKER__RESULT_BACKEND) at a running one"
            )


def broker_problem(settings: Settings, timeout: float) -> str | None:
    """None when the broker accepts a connection within ``timeout`` seconds, else why not
    (one line)."""
    return _connection_problem(broker_url(settings), timeout)


def wait_for_worker(settings: Settings, deadline: float) -> None:
    """Return once a worker consumes the configured queue; ServiceUnavailable when none has
    answered by ``deadline`` (a time.monotonic() value)."""
    queue = settings.broker.queue
    while True:
        wait = min(_WORKER_POLL_SECONDS, max(deadline - time.monotonic(), 0.1))
        replies = app.control.inspect(timeout=wait).active_queues() or {}
        if any(q.get("name") == queue for queues in replies.values() for q in queues or ()):
            return
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(
                f"no worker consumes queue {queue} on {_broker_name(settings)}: start one "
                "(`netaudit worker` with the same configuration) and run the command again"
            )


_PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
_KOMBU_SCHEMES = ("redis://", "rediss://", "redis+socket://", "amqp://", "amqps://")
_WORKER_POLL_SECONDS = 1.0


def _connection_problem(url: str, timeout: float) -> str | None:
    """None when ``url`` accepts a connection within ``timeout`` seconds, else why not."""
    connection = app.connection_for_write(url, connect_timeout=timeout)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except (OperationalError, OSError) as exc:
        return _first_line(exc)
    finally:
        connection.release()
    return None


def _broker_name(settings: Settings) -> str:
    if settings.broker.url:
        return f"broker {mask_url(settings.broker.url)}"
    return f"the collector's embedded broker ({settings.broker_dir / 'redis.sock'})"


def _how_to_reach_broker(settings: Settings) -> str:
    if settings.broker.url:
        return "start it, or point broker.url (NETAUDIT_BROKER__URL) at a running one"
    return (
        "start the collector on this state folder (`netaudit serve`), or point broker.url "
        "(NETAUDIT_BROKER__URL) at a running broker"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
