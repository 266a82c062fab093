"""A snapshot: whole families' rows (label values, then the value), encoded as JSON.

JSON lists decode faster in Python than any per-sample message, and a snapshot is read
at every scrape: a kind's families are one row, so a scrape costs a few row reads and one
decode per kind whatever the fleet's size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from netaudit.collector.metrics.families import Family
from netaudit.collector.metrics.shares import Row

Snapshot = dict[str, list[Row]]
"""Family name -> rows."""


def encode(snapshot: Mapping[str, Sequence[Row]], kinds: Sequence[Family]) -> bytes:
    """The families of one kind with their label names, so a reader of another release can
    tell a changed family from its own."""
    return json.dumps(
        {
            family.name: {
                "labels": list(family.labels),
                "rows": list(snapshot.get(family.name, [])),
            }
            for family in kinds
        },
        separators=(",", ":"),
    ).encode()


def decode(payload: bytes, kinds: Sequence[Family]) -> Snapshot:
    """Rows of the families of ``kinds`` whose stored label names match this release's."""
    data = json.loads(payload)
    snapshot: Snapshot = {}
    for family in kinds:
        stored = data.get(family.name)
        if stored is not None and tuple(stored["labels"]) == family.labels:
            snapshot[family.name] = stored["rows"]
    return snapshot
