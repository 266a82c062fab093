"""The sandbox ARM's throttling model on a fake clock: buckets, 429 + Retry-After, and the
log flagging requests that came before a Retry-After expired."""

from __future__ import annotations

from netaudit.sandbox.arm_throttle import ArmThrottle, Bucket, ThrottleLimits

SUB = "/subscriptions/s1"
AKS = f"{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reads_past_the_burst_get_429_with_retry_after_until_refilled() -> None:
    clock = Clock()
    model = ArmThrottle(ThrottleLimits(subscription_reads=Bucket(2, 0.5)), clock)
    answers = [model.admit("p", "GET", f"{SUB}/x")[0] for _ in range(3)]
    assert answers == [None, None, 429]
    assert model.admit("p", "GET", f"{SUB}/x")[1]["Retry-After"] == "2"
    clock.now = 2.0
    assert model.admit("p", "GET", f"{SUB}/x")[0] is None
    assert model.throttled() == 2


def test_aks_get_bucket_throttles_before_the_reads_bucket() -> None:
    model = ArmThrottle(ThrottleLimits(get_managed_cluster=Bucket(1, 1)), Clock())
    assert model.admit("p", "GET", f"{AKS}/a")[0] is None
    assert model.admit("p", "GET", f"{AKS}/a")[0] == 429
    assert model.admit("p", "GET", f"{SUB}/other")[0] is None, "other reads still pass"


def test_buckets_are_per_principal_and_subscription() -> None:
    model = ArmThrottle(ThrottleLimits(subscription_reads=Bucket(1, 1)), Clock())
    assert model.admit("p", "GET", f"{SUB}/x")[0] is None
    assert model.admit("q", "GET", f"{SUB}/x")[0] is None
    assert model.admit("p", "GET", "/subscriptions/s2/x")[0] is None
    assert model.admit("p", "GET", f"{SUB}/x")[0] == 429


def test_requests_before_retry_after_expiry_are_flagged() -> None:
    clock = Clock()
    model = ArmThrottle(ThrottleLimits(subscription_reads=Bucket(1, 1)), clock)
    model.admit("p", "GET", f"{SUB}/x")
    model.admit("p", "GET", f"{SUB}/x")  # 429, Retry-After 1
    clock.now = 0.5
    model.admit("p", "GET", f"{SUB}/x")  # too early
    clock.now = 5.0
    model.admit("p", "GET", f"{SUB}/x")
    assert [r.before_retry_after for r in model.log] == [False, False, True, False]
    assert model.before_retry_after() == 1


def test_remaining_reads_header_counts_down() -> None:
    model = ArmThrottle(ThrottleLimits(subscription_reads=Bucket(3, 1)), Clock())
    remaining = [
        model.admit("p", "GET", f"{SUB}/x")[1]["x-ms-ratelimit-remaining-subscription-reads"]
        for _ in range(3)
    ]
    assert remaining == ["2", "1", "0"]
