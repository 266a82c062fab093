"""ARM's throttling, modelled: token buckets per (principal, subscription) that answer 429
with ``Retry-After`` once empty, and a log of every request to check clients against.

The buckets are ARM's documented ones (reads 250 burst / 25 per s per principal and
subscription; the AKS resource provider's LIST managedClusters 500 / 1 per s, GET
managedCluster 60 / 1 per s, other AKS reads 60 / 1 per s; Resource Graph 15 per 5 s per
principal), or smaller ones so a test sees throttling in seconds. A throttled request
takes no token. The log says, per request, when it came, for whom, and whether it came
while a Retry-After this model had sent was still running.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_MANAGED_CLUSTERS = re.compile(
    r"/providers/microsoft\.containerservice/managedclusters(/[^/]+)?(/.*)?$", re.IGNORECASE
)
_RESOURCE_GRAPH = re.compile(r"^/providers/microsoft\.resourcegraph/", re.IGNORECASE)


@dataclass(frozen=True)
class Bucket:
    burst: float
    per_second: float


@dataclass(frozen=True)
class ThrottleLimits:
    subscription_reads: Bucket = Bucket(250, 25)
    list_managed_clusters: Bucket = Bucket(500, 1)
    get_managed_cluster: Bucket = Bucket(60, 1)
    other_managed_cluster: Bucket = Bucket(60, 1)
    resource_graph: Bucket = Bucket(15, 3)

    @classmethod
    def scaled(cls, factor: float) -> ThrottleLimits:
        """Every rate ``factor`` times the documented one, bursts unchanged: a benchmark
        of a big fleet in less time, with the same shape."""
        base = cls()
        return cls(
            *(
                Bucket(b.burst, b.per_second * factor)
                for b in (
                    base.subscription_reads,
                    base.list_managed_clusters,
                    base.get_managed_cluster,
                    base.other_managed_cluster,
                    base.resource_graph,
                )
            )
        )


@dataclass(frozen=True)
class LoggedRequest:
    at: float
    principal: str
    subscription: str
    method: str
    path: str
    status: int
    # A Retry-After this model had sent to (principal, subscription) had not expired yet.
    before_retry_after: bool


@dataclass
class _State:
    tokens: float
    updated: float


@dataclass
class ArmThrottle:
    """Counts requests and throttles them; safe to share between request threads."""

    limits: ThrottleLimits = field(default_factory=ThrottleLimits)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], _State] = {}
        self._retry_until: dict[tuple[str, str], float] = {}
        self.log: list[LoggedRequest] = []

    def buckets_of(self, method: str, path: str) -> tuple[str, list[str]]:
        """The subscription ("" for tenant-level) and the buckets a request counts against."""
        if _RESOURCE_GRAPH.search(path):
            return "", ["resource_graph"]
        match = _SUBSCRIPTION.match(path)
        subscription = match.group(1).lower() if match else ""
        if method.upper() not in {"GET", "HEAD"}:
            return subscription, []
        names = ["subscription_reads"]
        aks = _MANAGED_CLUSTERS.search(path)
        if aks is not None:
            if not aks.group(1):
                names.append("list_managed_clusters")
            elif not aks.group(2):
                names.append("get_managed_cluster")
            else:
                names.append("other_managed_cluster")
        return subscription, names

    def admit(self, principal: str, method: str, path: str) -> tuple[int | None, dict[str, str]]:
        """None and the remaining-reads header when the request may go on, else 429 and the
        Retry-After header (whole seconds, rounded up)."""
        subscription, names = self.buckets_of(method, path)
        with self._lock:
            now = self.clock()
            early = now < self._retry_until.get((principal, subscription), 0.0)
            states = [self._state(principal, subscription, name, now) for name in names]
            short = [
                (1 - state.tokens) / getattr(self.limits, name).per_second
                for state, name in zip(states, names, strict=True)
                if state.tokens < 1
            ]
            if short:
                retry_after = max(1, math.ceil(max(short)))
                self._retry_until[(principal, subscription)] = now + retry_after
                self.log.append(
                    LoggedRequest(now, principal, subscription, method, path, 429, early)
                )
                return 429, {"Retry-After": str(retry_after)}
            for state in states:
                state.tokens -= 1
            self.log.append(LoggedRequest(now, principal, subscription, method, path, 200, early))
            headers = {}
            if "subscription_reads" in names:
                headers["x-ms-ratelimit-remaining-subscription-reads"] = str(int(states[0].tokens))
            return None, headers

    def _state(self, principal: str, subscription: str, name: str, now: float) -> _State:
        bucket: Bucket = getattr(self.limits, name)
        key = (principal, subscription, name)
        state = self._buckets.get(key)
        if state is None:
            state = self._buckets[key] = _State(bucket.burst, now)
        state.tokens = min(bucket.burst, state.tokens + (now - state.updated) * bucket.per_second)
        state.updated = now
        return state

    # -- what tests and benchmarks read ---------------------------------------------------

    def requests(self, pattern: str = "") -> list[LoggedRequest]:
        """Logged requests whose path matches ``pattern`` (a case-insensitive regex)."""
        compiled = re.compile(pattern, re.IGNORECASE)
        with self._lock:
            return [r for r in self.log if compiled.search(r.path)]

    def throttled(self) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.status == 429)

    def before_retry_after(self) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.before_retry_after)

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()
