"""Token buckets, request classes and Retry-After of the ARM pacer, on a fake clock."""

from __future__ import annotations

import pytest

from netaudit.collector.inventory.pacing import (
    ArmLimits,
    BucketSize,
    Pacer,
    RequestKind,
    TokenBucket,
    classify,
    retry_after_seconds,
)

SUB = "/subscriptions/5a5a5a5a-0000-0000-0000-000000000001"
AKS = f"{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_gives_its_burst_then_spaces_by_its_rate() -> None:
    bucket = TokenBucket(BucketSize(3, 2), now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0]


def test_bucket_refills_up_to_its_burst_only() -> None:
    bucket = TokenBucket(BucketSize(2, 1), now=0.0)
    bucket.reserve(0.0)
    bucket.reserve(0.0)
    assert bucket.tokens(100.0) == 2


def test_remaining_header_lowers_the_bucket_never_raises_it() -> None:
    bucket = TokenBucket(BucketSize(250, 25), now=0.0)
    bucket.limit_to(3, 0.0)
    assert bucket.tokens(0.0) == 3
    bucket.limit_to(100, 0.0)
    assert bucket.tokens(0.0) == 3


@pytest.mark.parametrize(
    ("method", "url", "kind"),
    [
        ("GET", f"https://m/{AKS}?api-version=1", ("subscription_reads", "list_managed_clusters")),
        (
            "GET",
            f"https://m{SUB}/providers/Microsoft.ContainerService/managedClusters",
            ("subscription_reads", "list_managed_clusters"),
        ),
        (
            "GET",
            f"https://m{AKS}/aks-1?api-version=1",
            ("subscription_reads", "get_managed_cluster"),
        ),
        (
            "GET",
            f"https://m{AKS}/aks-1/agentPools?api-version=1",
            ("subscription_reads", "other_managed_cluster"),
        ),
        (
            "GET",
            f"https://m{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
            ("subscription_reads",),
        ),
        (
            "POST",
            "https://m/providers/Microsoft.ResourceGraph/resources?api-version=1",
            ("resource_graph",),
        ),
        ("PUT", f"https://m{AKS}/aks-1", ()),
    ],
)
def test_requests_count_against_their_buckets(method: str, url: str, kind: tuple[str, ...]) -> None:
    assert classify(method, url).buckets == kind


def test_subscription_is_lower_cased_and_graph_is_tenant_wide() -> None:
    assert classify("GET", f"https://m{SUB.upper()}/x").subscription == SUB.split("/")[2]
    assert (
        classify("POST", "https://m/providers/Microsoft.ResourceGraph/resources").subscription == ""
    )


def test_aks_get_bucket_paces_cluster_gets_below_the_reads_bucket() -> None:
    clock = FakeClock()
    pacer = Pacer(ArmLimits(get_managed_cluster=BucketSize(2, 1)), clock, clock.sleep)
    kind = classify("GET", f"https://m{AKS}/aks-1")
    for _ in range(4):
        pacer.before_send(kind)
    assert clock.slept == [1.0, 1.0]


def test_retry_after_holds_back_every_request_of_the_subscription() -> None:
    clock = FakeClock()
    pacer = Pacer(ArmLimits(), clock, clock.sleep)
    throttled = classify("GET", f"https://m{AKS}/aks-1")
    other = classify(
        "GET", f"https://m{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
    )
    pacer.after_response(throttled, 429, {"Retry-After": "7"})
    pacer.before_send(other)
    assert clock.now == pytest.approx(107.0)
    pacer.before_send(RequestKind("another-subscription", ("subscription_reads",)))
    assert clock.now == pytest.approx(107.0), "other subscriptions are not held back"


def test_a_shorter_retry_after_does_not_shorten_a_longer_one() -> None:
    clock = FakeClock()
    pacer = Pacer(ArmLimits(), clock, clock.sleep)
    kind = RequestKind("s", ("subscription_reads",))
    pacer.after_response(kind, 429, {"Retry-After": "10"})
    pacer.after_response(kind, 429, {"Retry-After": "1"})
    assert pacer.held_back(kind) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "5"}, 5.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds
