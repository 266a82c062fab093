"""Report requests reach every replica through a fanout exchange on the machine's Redis
and RabbitMQ: two replicas' fanouts in this process, a request published through one."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

import pytest

from netaudit.collector.request_fanout import RequestFanout

BROKERS = ["redis://127.0.0.1:6379/11", "amqp://guest:guest@127.0.0.1:5672//"]


class Received:
    def __init__(self) -> None:
        self.requests: list[tuple[str, list[str], str]] = []
        self.arrived = threading.Event()

    def __call__(self, request_id: str, clusters: Sequence[str], reason: str) -> None:
        self.requests.append((request_id, list(clusters), reason))
        self.arrived.set()


@pytest.fixture(params=BROKERS, ids=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def replicas(broker: str) -> Iterator[tuple[list[RequestFanout], list[Received]]]:
    queue = f"netaudit-test-{uuid.uuid4().hex[:8]}"
    received = [Received(), Received()]
    with ExitStack() as stack:
        fanouts = []
        for handler in received:
            fanout = RequestFanout(broker, queue, handler)
            fanout.start()
            stack.callback(fanout.stop)
            fanouts.append(fanout)
        yield fanouts, received


def test_a_request_published_by_one_replica_reaches_every_replica_once(
    replicas: tuple[list[RequestFanout], list[Received]],
) -> None:
    (first, _second), received = replicas
    first.publish("q-1", ["/subscriptions/s/x"], "asked")
    for handler in received:
        assert handler.arrived.wait(10)
    time.sleep(0.5)  # nothing more arrives
    assert [handler.requests for handler in received] == [
        [("q-1", ["/subscriptions/s/x"], "asked")]
    ] * 2


def test_collectors_with_other_queue_names_do_not_hear_the_request(broker: str) -> None:
    mine, theirs = Received(), Received()
    with ExitStack() as stack:
        for name, handler in (
            (f"a-{uuid.uuid4().hex[:8]}", mine),
            (f"b-{uuid.uuid4().hex[:8]}", theirs),
        ):
            fanout = RequestFanout(broker, name, handler)
            fanout.start()
            stack.callback(fanout.stop)
            if handler is mine:
                publisher = fanout
        publisher.publish("q-2", [], "")
        assert mine.arrived.wait(10)
        time.sleep(0.5)
    assert theirs.requests == []
