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


EncodedRows = dict[str, bytearray]
"""Family name -> its rows as JSON text, comma-separated (add them with ``append_row``).
A fleet's rows held this way take the size of their encoding; as lists of label strings
they took four times that (publish at 10,000 clusters)."""


def append_row(rows: bytearray, row: Row) -> None:
    if rows:
        rows += b","
    rows += json.dumps(row, separators=(",", ":")).encode()


def encoded(snapshot: Mapping[str, Sequence[Row]]) -> EncodedRows:
    out: EncodedRows = {}
    for name, rows in snapshot.items():
        buffer = out[name] = bytearray()
        for row in rows:
            append_row(buffer, row)
    return out


def encode(snapshot: Mapping[str, Sequence[Row]], kinds: Sequence[Family]) -> bytes:
    """The families of one kind with their label names, so a reader of another release can
    tell a changed family from its own."""
    return encode_rows(encoded(snapshot), kinds)


def encode_rows(rows: Mapping[str, bytes | bytearray], kinds: Sequence[Family]) -> bytes:
    """``encode`` of rows already encoded: one join, no intermediate copy of the rows."""
    pieces: list[bytes | bytearray] = [b"{"]
    for index, family in enumerate(kinds):
        header = {"labels": list(family.labels)}
        head = json.dumps({family.name: header}, separators=(",", ":"))[1:-2]
        pieces += [b"," if index else b"", head.encode(), b',"rows":[']
        pieces += [rows.get(family.name, b""), b"]}"]
    pieces.append(b"}")
    return b"".join(pieces)


def decoded_rows(rows: EncodedRows) -> Snapshot:
    return {name: json.loads(b"[" + text + b"]") for name, text in rows.items()}


def decode(payload: bytes, kinds: Sequence[Family]) -> Snapshot:
    """Rows of the families of ``kinds`` whose stored label names match this release's."""
    data = json.loads(payload)
    snapshot: Snapshot = {}
    for family in kinds:
        stored = data.get(family.name)
        if stored is not None and tuple(stored["labels"]) == family.labels:
            snapshot[family.name] = stored["rows"]
    return snapshot
