"""Listing the managed clusters of many subscriptions with Azure Resource Graph: one query
(and one page per 1,000 rows) instead of one ARM LIST per subscription (perf.md §1.3).

Sent as a raw request through an ARM client's pipeline (its credential, retry and pacing
policies), so no extra SDK is needed. Subscriptions go in batches of 1,000, the most one
query forwards. A subscription the principal cannot read is silently absent from the rows:
a cluster missing from them is therefore never taken as deleted without ARM confirming it.
The query projects ``systemData``; should a row come without it, the cluster's
last modification is unknown and its details are read (never assumed unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Payload = dict[str, Any]
Send = Callable[[str, Payload], Payload]
"""POSTs a body to a path relative to ARM's base URL; the answer's JSON."""

API_VERSION = "2024-04-01"
PATH = f"/providers/Microsoft.ResourceGraph/resources?api-version={API_VERSION}"
MANAGED_CLUSTERS_QUERY = (
    "Resources | where type =~ 'microsoft.containerservice/managedclusters' "
    "| project id, name, type, location, resourceGroup, subscriptionId, tenantId, "
    "sku, identity, tags, properties, systemData | order by id asc"
)
PAGE_ROWS = 1000
SUBSCRIPTIONS_PER_QUERY = 1000


def query_bodies(subscriptions: Sequence[str], page_rows: int = PAGE_ROWS) -> list[Payload]:
    """The request body of each batch of subscriptions (first page)."""
    return [
        _body(list(subscriptions[start : start + SUBSCRIPTIONS_PER_QUERY]), page_rows, "")
        for start in range(0, len(subscriptions), SUBSCRIPTIONS_PER_QUERY)
    ]


def _body(subscriptions: list[str], page_rows: int, skip_token: str) -> Payload:
    options: Payload = {"$top": page_rows, "resultFormat": "objectArray"}
    if skip_token:
        options["$skipToken"] = skip_token
    return {"subscriptions": subscriptions, "query": MANAGED_CLUSTERS_QUERY, "options": options}


def list_managed_clusters(
    send: Send, subscriptions: Sequence[str], page_rows: int = PAGE_ROWS
) -> dict[str, list[Payload]]:
    """Every managed cluster of the subscriptions, by lower-cased subscription id, as ARG
    rows (the resource body with ``subscriptionId`` and ``resourceGroup`` beside it)."""
    found: dict[str, list[Payload]] = {s.lower(): [] for s in subscriptions}
    for body in query_bodies(subscriptions, page_rows):
        while True:
            answer = send(PATH, body)
            for row in answer.get("data") or ():
                subscription = str(row.get("subscriptionId") or _subscription_of(row)).lower()
                found.setdefault(subscription, []).append(row)
            token = str(answer.get("$skipToken") or "")
            if not token:
                break
            body = _body(body["subscriptions"], page_rows, token)
    return found


def _subscription_of(row: Payload) -> str:
    parts = str(row.get("id", "")).split("/")
    return parts[2] if len(parts) > 2 else ""
