"""The queue depth on /metrics comes from the broker itself: Redis and RabbitMQ on this
machine's standard ports, a queue the test fills, and a broker that is not there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Producer, Queue
from prometheus_client import CollectorRegistry

from netaudit.collector.metrics.queue_depth import QueueDepthCollector

BROKERS = ["redis://127.0.0.1:6379/14", "amqp://guest:guest@127.0.0.1:5672//"]


@pytest.fixture(params=BROKERS, ids=["redis", "rabbitmq"])
def queue(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    url, name = request.param, f"netaudit-test-{uuid.uuid4().hex[:8]}"
    with Connection(url, connect_timeout=5) as connection:
        Queue(name, Exchange(name), routing_key=name)(connection.default_channel).declare()
        yield url, name
        connection.default_channel.queue_delete(name)


def scrape(url: str, name: str) -> dict[str, float | None]:
    registry = CollectorRegistry()
    registry.register(QueueDepthCollector(url, name))
    return {
        "up": registry.get_sample_value("netaudit_broker_up"),
        "waiting": registry.get_sample_value("netaudit_queue_messages", {"queue": name}),
    }


def test_the_depth_is_the_number_of_tasks_waiting(queue: tuple[str, str]) -> None:
    url, name = queue
    assert scrape(url, name) == {"up": 1, "waiting": 0}
    with Connection(url) as connection:
        producer = Producer(connection.default_channel, exchange=Exchange(name), routing_key=name)
        for number in range(3):
            producer.publish({"n": number}, declare=[Queue(name, Exchange(name), name)])
    assert scrape(url, name) == {"up": 1, "waiting": 3}


@pytest.mark.parametrize("url", BROKERS, ids=["redis", "rabbitmq"])
def test_a_queue_no_worker_declared_yet_is_empty(url: str) -> None:
    assert scrape(url, f"netaudit-never-{uuid.uuid4().hex[:8]}")["waiting"] == 0


def test_an_unreachable_broker_is_down_not_an_empty_queue() -> None:
    assert scrape("redis://127.0.0.1:1/0", "netaudit") == {"up": 0, "waiting": None}
