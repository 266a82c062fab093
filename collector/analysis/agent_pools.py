"""What ARM says about a cluster's agent pools that several rule families read: a
pool's resource id, whether it runs Windows and which Windows Server, and the
cluster's node total at max scale (with or without upgrade surge).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from netaudit.collector.analysis.ip_capacity import (
    PoolCapacityUnknown,
    pool_node_count,
    pool_surge,
)
from netaudit.v1 import inventory_pb2

WINDOWS = "windows"
WINDOWS_2019 = "windows2019"
WINDOWS_2022 = "windows2022"

WINDOWS_2022_DEFAULT_FROM = (1, 25)
"""An unset ``osSKU`` on a Windows pool means Windows2019 on Kubernetes <= 1.24 and
Windows2022 from 1.25 (SDK ``AgentPool.os_sku`` docstring)."""

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)")


def pool_resource_id(
    inventory: inventory_pb2.ClusterInventory, pool: inventory_pb2.AgentPool
) -> str:
    """The pool's ARM id, lower-cased: ``<cluster id>/agentpools/<name>``."""
    return f"{inventory.arm_resource_id}/agentPools/{pool.name}".lower()


def is_windows(pool: inventory_pb2.AgentPool) -> bool:
    return pool.os_type.lower() == WINDOWS


def windows_pools(inventory: inventory_pb2.ClusterInventory) -> list[inventory_pb2.AgentPool]:
    return [pool for pool in inventory.agent_pools if is_windows(pool)]


class WindowsVersionUnknown(ValueError):
    """A Windows pool whose Windows Server version ARM does not tell (the message says why)."""


def windows_os_sku(pool: inventory_pb2.AgentPool, cluster_version: str = "") -> str:
    """The lower-cased ``osSKU`` of a Windows pool (``windows2019``, ``windows2022``, ...).

    Unset, it is Windows2019 when the pool runs Kubernetes <= 1.24 (the default then,
    and a pool cannot run an older version than it was created on). On >= 1.25 it is
    unknown: a pool created on 1.24 keeps Windows2019 through upgrades, so the
    1.25 default cannot be assumed.
    """
    if pool.os_sku:
        return pool.os_sku.lower()
    version = _minor_version(pool.orchestrator_version) or _minor_version(cluster_version)
    if version is not None and version < WINDOWS_2022_DEFAULT_FROM:
        return WINDOWS_2019
    running = pool.orchestrator_version or cluster_version or "an unknown version"
    raise WindowsVersionUnknown(
        f"Windows pool {pool.name} has no osSKU in ARM and runs Kubernetes {running}, so "
        "its Windows Server version is unknown"
    )


def _minor_version(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class NodeTotal:
    """Σ N (or Σ N+S) over the pools whose size is known; ``unknown`` maps the other
    pools to the reason, so ``nodes`` is then a lower bound."""

    nodes: int
    terms: Mapping[str, str] = field(default_factory=dict)
    """Pool name -> its share, ``"N"`` or ``"N+S"``."""
    unknown: Mapping[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.unknown

    def unknown_reason(self) -> str:
        return "; ".join(sorted(self.unknown.values()))


def node_total(inventory: inventory_pb2.ClusterInventory, *, surge: bool) -> NodeTotal:
    """Nodes the cluster can reach: Σ N over its pools (``maxCount`` when autoscaling),
    plus each pool's upgrade surge S when ``surge`` (domain.md §1.11)."""
    total = 0
    terms: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for pool in inventory.agent_pools:
        try:
            nodes = pool_node_count(pool)
            extra = pool_surge(pool, inventory.kubernetes_version) if surge else 0
        except PoolCapacityUnknown as exc:
            unknown[pool.name] = str(exc)
            continue
        total += nodes + extra
        terms[pool.name] = f"{nodes}+{extra}" if surge else str(nodes)
    return NodeTotal(total, terms, unknown)
