"""Inventory refresh at fleet scale against the sandbox ARM's throttling model.

A synthetic fleet (default 5 subscriptions x 200 clusters) is refreshed twice by the
ArmReader (per-subscription listing, every subscription at once), with the client's
pacing sized to the same limits as the model (ARM's documented ones by default;
``--rate-factor`` multiplies every refill rate on both sides to compress time). The
second refresh is incremental over the first's inventories, with one cluster touched.

Printed and written to bench/results/inventory_scale.json, per run: requests, 429s,
requests that came before a Retry-After expired, wall time, and the ratio of the
requests sent to what the model would have admitted in that time (its burst plus its
refill over the wall time, per subscription's reads bucket; 1.0 = the whole budget).

    python -m bench.inventory_scale [--subscriptions 5] [--clusters 200] [--no-pacing]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from netaudit.collector.inventory.arm import ArmReader, client_secret_credential
from netaudit.collector.inventory.pacing import ArmLimits, BucketSize, Pacer
from netaudit.sandbox.arm import ArmServer
from netaudit.sandbox.arm_throttle import ArmThrottle, ThrottleLimits
from netaudit.sandbox.synthetic_fleet import cluster_id, subscription_id, synthetic_fleet, touch
from netaudit.v1 import inventory_pb2

RESULTS = Path(__file__).resolve().parent / "results" / "inventory_scale.json"


@dataclass
class Run:
    name: str
    clusters: int
    requests: int
    throttled: int
    before_retry_after: int
    wall_seconds: float
    budget_ratio: float


def client_limits(model: ThrottleLimits) -> ArmLimits:
    return ArmLimits(
        *(
            BucketSize(b.burst, b.per_second)
            for b in (
                model.subscription_reads,
                model.list_managed_clusters,
                model.get_managed_cluster,
                model.other_managed_cluster,
                model.resource_graph,
            )
        )
    )


def refresh(
    server: ArmServer,
    subscriptions: list[str],
    pacer: Pacer | None,
    stored: dict[str, inventory_pb2.ClusterInventory],
) -> tuple[list[inventory_pb2.ClusterInventory], float]:
    data = server.data
    credential = client_secret_credential(
        data.tenant_id, data.client_id, data.client_secret, server.url, str(server.ca_pem_path)
    )
    reader = ArmReader(
        credential,
        subscriptions,
        base_url=server.url,
        connection_verify=str(server.ca_pem_path),
        pacer=pacer,
        stored=lambda sub: [i for i in stored.values() if i.subscription_id.lower() == sub],
        max_concurrent_subscriptions=len(subscriptions),
        retry_total=10,
    )
    started = time.monotonic()
    inventories = reader.read()
    return inventories, time.monotonic() - started


def measure(
    name: str,
    server: ArmServer,
    subscriptions: list[str],
    pacer: Pacer | None,
    stored: dict[str, inventory_pb2.ClusterInventory],
) -> tuple[Run, list[inventory_pb2.ClusterInventory]]:
    model = server.throttle
    assert model is not None
    model.reset_log()
    inventories, wall = refresh(server, subscriptions, pacer, stored)
    reads = model.limits.subscription_reads
    admitted = len(subscriptions) * (reads.burst + reads.per_second * wall)
    run = Run(
        name=name,
        clusters=len(inventories),
        requests=len(model.log),
        throttled=model.throttled(),
        before_retry_after=model.before_retry_after(),
        wall_seconds=round(wall, 2),
        budget_ratio=round(len(model.log) / admitted, 3),
    )
    return run, inventories


def run(
    subscriptions: int = 5, clusters: int = 200, rate_factor: float = 1.0, pacing: bool = True
) -> list[Run]:
    """The first refresh of the synthetic fleet, then an incremental one with one cluster
    touched, against the throttling model."""
    limits = ThrottleLimits.scaled(rate_factor)
    data = synthetic_fleet(subscriptions, clusters)
    subscription_ids = [subscription_id(s) for s in range(subscriptions)]
    pacer = Pacer(client_limits(limits)) if pacing else None
    with ArmServer(data, throttle=ArmThrottle(limits)) as server:
        first, inventories = measure("first refresh", server, subscription_ids, pacer, {})
        stored = {i.arm_resource_id.lower(): i for i in inventories}
        touch(server.data, cluster_id(0, 0))
        second, _ = measure("second refresh", server, subscription_ids, pacer, stored)
    return [first, second]


def table(runs: list[Run]) -> str:
    return "\n".join(
        f"{run.name:15} {run.clusters:5} clusters  {run.requests:6} requests  "
        f"{run.throttled:4} x 429  {run.before_retry_after:3} before Retry-After  "
        f"{run.wall_seconds:7.2f} s  {run.budget_ratio:.3f} of the model's budget"
        for run in runs
    )


def figures(
    runs: list[Run],
    subscriptions: int = 5,
    clusters: int = 200,
    rate_factor: float = 1.0,
    pacing: bool = True,
) -> dict[str, object]:
    return {
        "fleet": f"{subscriptions} x {clusters}",
        "rate_factor": rate_factor,
        "pacing": pacing,
        "runs": [asdict(r) for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=5)
    parser.add_argument("--clusters", type=int, default=200, help="per subscription")
    parser.add_argument("--rate-factor", type=float, default=1.0)
    parser.add_argument("--no-pacing", action="store_true")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shape = (options.subscriptions, options.clusters, options.rate_factor, not options.no_pacing)
    runs = run(*shape)
    print(table(runs))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures(runs, *shape), indent=2) + "\n")


if __name__ == "__main__":
    main()
