"""Cluster keys, subscriptions and finding fingerprints: the store's pure functions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.collector.store import cluster_key, fingerprint
from netaudit.collector.store.clusters import subscription_of
from tests.conftest import SHARED_FIXTURES


def _cluster_ids(document: object) -> Iterator[str]:
    """Every managed-cluster resource id in a published ARM payload."""
    if isinstance(document, dict):
        resource_id = document.get("id")
        is_cluster = isinstance(resource_id, str) and resource_id.count("/") == 8
        if is_cluster and "/managedclusters/" in str(resource_id).lower():
            yield str(resource_id)
        for value in document.values():
            yield from _cluster_ids(value)
    elif isinstance(document, list):
        for value in document:
            yield from _cluster_ids(value)


def published_cluster_ids() -> list[str]:
    folder = SHARED_FIXTURES / "arm" / "managedclusters"
    found: set[str] = set()
    for path in sorted(Path(folder).glob("*.json")):
        found.update(_cluster_ids(json.loads(path.read_text())))
    return sorted(found)


PUBLISHED_IDS = published_cluster_ids()


def test_the_fixtures_hold_cluster_ids_in_both_resource_group_casings() -> None:
    assert any("/resourceGroups/" in resource_id for resource_id in PUBLISHED_IDS)
    assert any("/resourcegroups/" in resource_id for resource_id in PUBLISHED_IDS)


@pytest.mark.parametrize("resource_id", PUBLISHED_IDS)
def test_every_casing_of_a_published_id_gives_one_key(resource_id: str) -> None:
    variants = {resource_id, resource_id.upper(), resource_id.lower(), f" {resource_id}\n"}

    keys = {cluster_key(variant) for variant in variants}

    assert keys == {resource_id.lower()}


@pytest.mark.parametrize("resource_id", PUBLISHED_IDS)
def test_the_subscription_comes_from_the_published_id(resource_id: str) -> None:
    assert subscription_of(resource_id) == resource_id.split("/")[2].lower()


@pytest.mark.parametrize("resource_id", ["", "clustername1", "/resourceGroups/rg1/providers/x"])
def test_an_id_without_subscription_gives_none(resource_id: str) -> None:
    assert subscription_of(resource_id) == ""


def test_fingerprint_is_sha256_of_the_json_triple() -> None:
    expected = hashlib.sha256(b'["IP001","/subscriptions/s/x","subnet/a"]').hexdigest()

    assert fingerprint("IP001", "/subscriptions/s/x", "subnet/a") == expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("IP001", "c", "a/b"), ("IP001", "c/a", "b")),  # a separator cannot shift a field
        (("IP0", "01c", "r"), ("IP001", "c", "r")),
        (("R", "c", "subnet/a"), ("R", "c", "subnet/A")),  # resources keep their case
    ],
)
def test_different_triples_never_share_a_fingerprint(
    one: tuple[str, str, str], other: tuple[str, str, str]
) -> None:
    assert fingerprint(*one) != fingerprint(*other)
