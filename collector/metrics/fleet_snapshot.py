"""The fleet's range and cluster samples, merged from the clusters' parts.

A subnet or VNet is exported once however many clusters use it, under its own
subscription, group, VNet and subnet: its need at max scale is the sum of every
cluster's need (each cluster's part counts only its own pools), unknown if any cluster's
is. Pod and service CIDRs belong to one cluster and are exported per cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from netaudit.collector.metrics import families
from netaudit.collector.metrics.labels import network_label_values
from netaudit.collector.metrics.shares import ClusterPart, RangeShare, Row
from netaudit.collector.metrics.snapshot import EncodedRows, Snapshot, append_row, decoded_rows

CLUSTER_RANGE_KINDS = frozenset({"pod_cidr", "service_cidr"})


@dataclass
class _SharedRange:
    first: RangeShare
    modes: set[str] = field(default_factory=set)
    used: float | None = None
    required: float | None = 0.0
    clusters: list[tuple[str, str, str]] = field(default_factory=list)


class FleetSnapshot:
    """Built one part at a time, so the parts need not all be held at once; rows are kept
    as JSON text (snapshot.EncodedRows)."""

    def __init__(self) -> None:
        self._ranges: EncodedRows = {family.name: bytearray() for family in families.RANGES}
        self._shared: dict[tuple[str, str], _SharedRange] = {}
        self._clusters: EncodedRows = {family.name: bytearray() for family in families.CLUSTERS}
        self.cluster_labels: dict[str, tuple[str, str, str]] = {}
        """cluster key -> (subscription_id, resource_group, cluster) of every part added"""

    def add(self, part: ClusterPart) -> None:
        self.cluster_labels[part.cluster_key] = part.labels
        for name, rows in part.samples.items():
            if name in self._clusters:
                for row in rows:
                    append_row(self._clusters[name], row)
        for share in part.ranges:
            if share.kind not in CLUSTER_RANGE_KINDS:
                _merge(self._shared, share, part.labels)
                continue
            subscription, group, cluster = part.labels
            labels = [share.kind, share.ipam_mode, subscription, group, "", "", cluster,
                      share.range_id]  # fmt: skip
            _add_range(self._ranges, labels, share, share.used, share.required)
            append_row(
                self._ranges[families.RANGE_CLUSTER_INFO.name],
                [share.kind, subscription, group, "", "", share.range_id, *part.labels, 1],
            )

    def ranges(self) -> Snapshot:
        return decoded_rows(self.encoded_ranges())

    def clusters(self) -> Snapshot:
        """The per-cluster families: each part's rows, in the order added."""
        return decoded_rows(self._clusters)

    def encoded_clusters(self) -> EncodedRows:
        return self._clusters

    def encoded_ranges(self) -> EncodedRows:
        """The range families: clusters' own CIDRs in the order added, then the shared
        subnets and VNets by id."""
        snapshot = {name: bytearray(rows) for name, rows in self._ranges.items()}
        for (kind, range_id), merged in sorted(self._shared.items()):
            subscription, group, vnet, subnet = network_label_values(range_id)
            mode = ",".join(sorted(merged.modes - {""}))
            labels = [kind, mode, subscription, group, vnet, subnet, "", ""]
            _add_range(snapshot, labels, merged.first, merged.used, merged.required)
            for cluster_labels in sorted(set(merged.clusters)):
                append_row(
                    snapshot[families.RANGE_CLUSTER_INFO.name],
                    [kind, subscription, group, vnet, subnet, "", *cluster_labels, 1],
                )
        return snapshot


def range_snapshot(parts: Iterable[ClusterPart]) -> Snapshot:
    return _built(parts).ranges()


def cluster_snapshot(parts: Iterable[ClusterPart]) -> Snapshot:
    return _built(parts).clusters()


def _built(parts: Iterable[ClusterPart]) -> FleetSnapshot:
    snapshot = FleetSnapshot()
    for part in parts:
        snapshot.add(part)
    return snapshot


def _merge(
    shared: dict[tuple[str, str], _SharedRange], share: RangeShare, cluster: tuple[str, str, str]
) -> None:
    merged = shared.get((share.kind, share.range_id))
    if merged is None:
        merged = shared[(share.kind, share.range_id)] = _SharedRange(share)
    merged.modes.update(share.ipam_mode.split(","))
    if share.used is not None:
        # every cluster reads the same ARM usages; the largest is the freshest reading
        merged.used = share.used if merged.used is None else max(merged.used, share.used)
    if merged.required is not None:
        merged.required = None if share.required is None else merged.required + share.required
    if merged.first.exhaustion_seconds is None and share.exhaustion_seconds is not None:
        merged.first = share
    merged.clusters.append(cluster)


def _add_range(
    snapshot: EncodedRows,
    labels: list[str],
    share: RangeShare,
    used: float | None,
    required: float | None,
) -> None:
    def add(family: families.Family, value: float) -> None:
        row: Row = [*labels, value]
        append_row(snapshot[family.name], row)

    add(families.RANGE_CAPACITY, share.capacity)
    if used is not None:
        add(families.RANGE_USED, used)
        if share.capacity > 0:
            add(families.RANGE_UTILIZATION, used / share.capacity)
    if required is not None:
        add(families.RANGE_REQUIRED, required)
    if share.exhaustion_seconds is not None:
        add(families.RANGE_EXHAUSTION, share.exhaustion_seconds)
