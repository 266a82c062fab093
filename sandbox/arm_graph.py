"""Azure Resource Graph's ``POST /providers/Microsoft.ResourceGraph/resources``, for the
queries the inventory sends: ``Resources | where type =~ '<type>'`` over the named
subscriptions, rows as ARG returns them (objectArray), paged with ``$skipToken`` (perf.md
§1.3: 1,000 rows per page at most).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from netaudit.sandbox.arm_data import ArmData, Body, ResourceId

MAX_ROWS = 1000
_TYPE_FILTER = re.compile(r"\btype\s*(?:=~|==)\s*['\"]([^'\"]+)['\"]", re.IGNORECASE)


class GraphQueryError(ValueError):
    """A query body the sandbox cannot answer (ARG answers 400)."""


def resource_graph_page(
    data: ArmData, body: bytes, readable: Callable[[str], bool] = lambda _subscription: True
) -> dict[str, Any]:
    """One page of the answer; subscriptions ``readable`` refuses are silently left out,
    as Resource Graph does with those the principal has no access to."""
    try:
        request = json.loads(body or b"{}")
    except ValueError as error:
        raise GraphQueryError(f"the query body is not JSON: {error}") from error
    query = str(request.get("query", ""))
    match = _TYPE_FILTER.search(query)
    if match is None:
        raise GraphQueryError(f"the sandbox answers only `where type =~ '...'` queries: {query}")
    options = request.get("options") or {}
    top = min(int(options.get("$top", MAX_ROWS)), MAX_ROWS)
    start = _offset(str(options.get("$skipToken", "")))
    subscriptions = [str(s).lower() for s in request.get("subscriptions") or () if readable(str(s))]
    rows = [
        _row(data, body)
        for subscription in subscriptions
        for body in data.list_top_level(subscription, match.group(1))
    ]
    page = rows[start : start + top]
    answer: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(page),
        "resultTruncated": "false",
        "facets": [],
        "data": page,
    }
    if start + len(page) < len(rows):
        answer["$skipToken"] = base64.b64encode(f"row:{start + len(page)}".encode()).decode()
    return answer


def _row(data: ArmData, body: Body) -> Body:
    """A resource as ARG's Resources table has it: the body plus its subscription, group
    and tenant, the type lower-cased."""
    resource_id = str(body["id"])
    parsed = ResourceId.parse(resource_id)
    row = {k: v for k, v in body.items() if k != "type"}
    row.update(
        type=parsed.type,
        subscriptionId=resource_id.split("/")[2],
        resourceGroup=resource_id.split("/")[4],
        tenantId=data.tenant_id,
    )
    return row


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, offset = base64.b64decode(token.encode()).decode().partition(":")
        if kind != "row":
            raise ValueError(token)
        return max(int(offset), 0)
    except ValueError as error:
        raise GraphQueryError(f"the $skipToken is not valid: {token}") from error
