"""Resource Graph listing: the query body, and paging with $skipToken through the sandbox's
Resource Graph answer (the real example's shape: data, count, totalRecords, $skipToken)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netaudit.collector.inventory.resource_graph import PATH, list_managed_clusters, query_bodies
from netaudit.sandbox.arm_graph import resource_graph_page
from netaudit.sandbox.synthetic_fleet import subscription_id, synthetic_fleet
from tests.conftest import SHARED_FIXTURES


def test_query_batches_subscriptions_by_a_thousand() -> None:
    subscriptions = [f"s{i}" for i in range(2500)]
    bodies = query_bodies(subscriptions)
    assert [len(b["subscriptions"]) for b in bodies] == [1000, 1000, 500]
    assert all(b["options"]["$top"] == 1000 for b in bodies)
    assert "microsoft.containerservice/managedclusters" in bodies[0]["query"]


def test_pages_follow_the_skip_token_until_the_last() -> None:
    data = synthetic_fleet(3, 5)
    sent: list[dict[str, Any]] = []

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == PATH
        sent.append(body)
        return resource_graph_page(data, json.dumps(body).encode())

    found = list_managed_clusters(send, [subscription_id(s) for s in range(3)], page_rows=4)
    assert len(sent) == 4, "15 rows in pages of 4"
    assert [b["options"].get("$skipToken", "") != "" for b in sent] == [False, True, True, True]
    assert {s: len(rows) for s, rows in found.items()} == {subscription_id(s): 5 for s in range(3)}


def test_the_published_answer_shape_is_what_the_listing_reads() -> None:
    example = json.loads(
        (Path(SHARED_FIXTURES) / "arm/resourcegraph/ResourcesFirstPageQuery.json").read_text()
    )
    answer = example["responses"]["200"]["body"]
    pages = iter([answer, {**answer, "$skipToken": None, "data": []}])
    found = list_managed_clusters(
        lambda _path, _body: next(pages), ["cfbbd179-59d2-4052-aa06-9270a38aa9d6"]
    )
    assert len(found["cfbbd179-59d2-4052-aa06-9270a38aa9d6"]) == 3


def test_the_published_next_page_is_asked_for_with_the_first_pages_skip_token() -> None:
    def answer(name: str) -> dict[str, Any]:
        path = Path(SHARED_FIXTURES) / f"arm/resourcegraph/{name}.json"
        example: dict[str, Any] = json.loads(path.read_text())
        return example["responses"]["200"]["body"]  # type: ignore[no-any-return]

    first, following = answer("ResourcesFirstPageQuery"), answer("ResourcesNextPageQuery")
    pages = iter([first, following, {**following, "$skipToken": None, "data": []}])
    asked: list[dict[str, Any]] = []

    def send(_path: str, body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body)
        return next(pages)

    found = list_managed_clusters(send, ["cfbbd179-59d2-4052-aa06-9270a38aa9d6"])
    tokens = [b.get("options", {}).get("$skipToken", "") for b in asked]
    assert tokens == ["", first["$skipToken"], following["$skipToken"]]
    assert len(found["cfbbd179-59d2-4052-aa06-9270a38aa9d6"]) == 6
