"""What one cluster contributes to the fleet's samples, as stored between the scan's (or
refresh's) chunks and the step that merges them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

Row = list[str | float]
"""Label values in the family's order, then the value."""


@dataclass(frozen=True)
class RangeShare:
    """A range as one cluster sees it, in addresses; None where nothing measures it."""

    kind: str
    range_id: str
    ipam_mode: str
    capacity: float
    used: float | None
    required: float | None
    exhaustion_seconds: float | None


@dataclass(frozen=True)
class ClusterPart:
    cluster_key: str
    labels: tuple[str, str, str]
    """(subscription_id, resource_group, cluster)"""
    ranges: tuple[RangeShare, ...] = ()
    samples: dict[str, list[Row]] = field(default_factory=dict)
    """Per-cluster family name -> rows (the cluster's labels first)."""

    def encode(self) -> bytes:
        return json.dumps(
            {
                "key": self.cluster_key,
                "labels": list(self.labels),
                "ranges": [
                    [
                        r.kind,
                        r.range_id,
                        r.ipam_mode,
                        r.capacity,
                        r.used,
                        r.required,
                        r.exhaustion_seconds,
                    ]
                    for r in self.ranges
                ],
                "samples": self.samples,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, payload: bytes) -> ClusterPart:
        data = json.loads(payload)
        subscription, group, name = data["labels"]
        return cls(
            cluster_key=data["key"],
            labels=(subscription, group, name),
            ranges=tuple(RangeShare(*row) for row in data["ranges"]),
            samples=data["samples"],
        )
