"""Client-side pacing of ARM requests: token buckets sized to ARM's documented limits, a
shared per-subscription "not before" time set by ``Retry-After``, and jittered backoff.

ARM throttles per principal, per subscription, per operation type (perf.md §1.2: reads
bucket 250, refill 25/s), and the AKS resource provider adds its own, tighter buckets
(domain.md §1.10: LIST managedClusters 500 burst / 1 per s, GET managedCluster 60 / 1
per s, every other AKS operation 60 / 1 per s, per subscription). Resource Graph allows
about 15 queries per 5 s per principal (perf.md §1.3). A request takes a token from every
bucket it counts against and waits until all of them could give one; a 429's
``Retry-After`` holds back every request of that (principal, subscription) until it
expires, not only the retried one.

The buckets live in the process (:func:`shared_pacer`): one subscription is refreshed by
one task at a time, so one process holds the subscription's whole budget.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_MANAGED_CLUSTERS = re.compile(
    r"/providers/microsoft\.containerservice/managedclusters(/[^/]+)?(/.*)?$", re.IGNORECASE
)
_RESOURCE_GRAPH = re.compile(r"^/providers/microsoft\.resourcegraph/", re.IGNORECASE)
REMAINING_READS_HEADER = "x-ms-ratelimit-remaining-subscription-reads"
MAX_RETRY_AFTER_SECONDS = 3600.0
"""A Retry-After beyond an hour is taken as an hour: a broken header must not stall forever."""


@dataclass(frozen=True)
class BucketSize:
    """A token bucket: ``burst`` requests at once, then ``per_second`` sustained."""

    burst: float
    per_second: float


@dataclass(frozen=True)
class ArmLimits:
    """The documented limits (defaults) or smaller ones (tests, shared principals)."""

    subscription_reads: BucketSize = BucketSize(250, 25)
    list_managed_clusters: BucketSize = BucketSize(500, 1)
    get_managed_cluster: BucketSize = BucketSize(60, 1)
    other_managed_cluster: BucketSize = BucketSize(60, 1)
    resource_graph: BucketSize = BucketSize(15, 3)


class TokenBucket:
    """A token bucket whose tokens may go negative: a reservation made while it is empty
    queues behind the earlier ones, so concurrent callers are spaced out, not bunched."""

    def __init__(self, size: BucketSize, now: float) -> None:
        self.size = size
        self._tokens = float(size.burst)
        self._updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(now - self._updated, 0.0)
        self._tokens = min(self.size.burst, self._tokens + elapsed * self.size.per_second)
        self._updated = now

    def reserve(self, now: float) -> float:
        """Take one token; seconds until it is there (0 when it was)."""
        self._refill(now)
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.size.per_second

    def limit_to(self, remaining: float, now: float) -> None:
        """ARM said how many requests remain: never believe in more (another client of the
        same principal spends the same budget)."""
        self._refill(now)
        self._tokens = min(self._tokens, remaining)

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens


@dataclass(frozen=True)
class RequestKind:
    """What a request counts against: its subscription ("" for tenant-level) and buckets."""

    subscription: str
    buckets: tuple[str, ...]


def classify(method: str, url: str) -> RequestKind:
    """The buckets of one request, from its method and path."""
    path = urlsplit(url).path
    if _RESOURCE_GRAPH.search(path):
        return RequestKind("", ("resource_graph",))
    match = _SUBSCRIPTION.match(path)
    subscription = match.group(1).lower() if match else ""
    if method.upper() not in {"GET", "HEAD"}:
        return RequestKind(subscription, ())
    buckets = ["subscription_reads"]
    aks = _MANAGED_CLUSTERS.search(path)
    if aks is not None:
        name, rest = aks.group(1), aks.group(2)
        if not name:
            buckets.append("list_managed_clusters")
        elif not rest:
            buckets.append("get_managed_cluster")
        else:
            buckets.append("other_managed_cluster")
    return RequestKind(subscription, tuple(buckets))


class Pacer:
    """Buckets and "not before" times of one principal, shared by every client and thread."""

    def __init__(
        self,
        limits: ArmLimits | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.limits = limits or ArmLimits()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._not_before: dict[str, float] = {}
        self.waited_seconds = 0.0

    def _bucket(self, subscription: str, name: str, now: float) -> TokenBucket:
        key = (subscription, name)
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(getattr(self.limits, name), now)
        return self._buckets[key]

    def reserve(self, kind: RequestKind) -> float:
        """Take the request's tokens; seconds to wait before sending it."""
        with self._lock:
            now = self._clock()
            wait = max(self._not_before.get(kind.subscription, now) - now, 0.0)
            for name in kind.buckets:
                wait = max(wait, self._bucket(kind.subscription, name, now).reserve(now))
            return wait

    def held_back(self, kind: RequestKind) -> float:
        """Seconds a Retry-After still holds this subscription back."""
        with self._lock:
            now = self._clock()
            return max(self._not_before.get(kind.subscription, now) - now, 0.0)

    def before_send(self, kind: RequestKind) -> None:
        """Wait for the tokens, then for any Retry-After that arrived meanwhile."""
        wait = self.reserve(kind)
        while wait > 0:
            self.waited_seconds += wait
            self._sleep(wait)
            wait = self.held_back(kind)

    def after_response(self, kind: RequestKind, status: int, headers: Any) -> None:
        """Learn from the answer: Retry-After holds back the subscription, the remaining
        reads header caps the reads bucket."""
        now = self._clock()
        with self._lock:
            retry_after = retry_after_seconds(headers) if status in {429, 503} else None
            if retry_after is not None:
                until = now + min(retry_after, MAX_RETRY_AFTER_SECONDS)
                if until > self._not_before.get(kind.subscription, 0.0):
                    self._not_before[kind.subscription] = until
                    logger.info(
                        "ARM answered %d for subscription %s: no request before %.1f s",
                        status,
                        kind.subscription or "(tenant)",
                        retry_after,
                    )
            remaining = _number(headers.get(REMAINING_READS_HEADER)) if headers else None
            if remaining is not None and "subscription_reads" in kind.buckets:
                self._bucket(kind.subscription, "subscription_reads", now).limit_to(remaining, now)


def retry_after_seconds(headers: Any) -> float | None:
    """The Retry-After header (seconds, or retry-after-ms) when present and sane."""
    if not headers:
        return None
    milliseconds = _number(headers.get("retry-after-ms") or headers.get("x-ms-retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    return _number(headers.get("Retry-After"))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class PacingPolicy(HTTPPolicy):
    """An azure-core policy placed after the retry policy, so every attempt is paced."""

    def __init__(self, pacer: Pacer) -> None:
        super().__init__()
        self.pacer = pacer

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        http = request.http_request
        kind = classify(http.method, http.url)
        self.pacer.before_send(kind)
        response = self.next.send(request)
        self.pacer.after_response(
            kind, response.http_response.status_code, response.http_response.headers
        )
        return response


class JitteredRetryPolicy(RetryPolicy):
    """azure-core's retry (Retry-After honoured on 429 and 503) whose exponential backoff
    on 5xx and broken connections is spread with full jitter, so clients that failed
    together do not retry together."""

    def __init__(self, jitter: Callable[[], float] = random.random, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._jitter = jitter

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return float(super().get_backoff_time(settings)) * (0.5 + self._jitter() / 2)


_SHARED: dict[tuple[str, ArmLimits], Pacer] = {}
_SHARED_LOCK = threading.Lock()


def shared_pacer(principal: str, limits: ArmLimits) -> Pacer:
    """The process's pacer of one principal: every reader of it spends the same budget."""
    with _SHARED_LOCK:
        key = (principal.lower(), limits)
        if key not in _SHARED:
            _SHARED[key] = Pacer(limits)
        return _SHARED[key]
