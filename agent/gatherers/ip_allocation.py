"""Pods that got no IP: the kubelet's FailedCreatePodSandBox Events whose message says
the CNI could not allocate an address (domain.md §5 IPX-002), aggregated per node and
marker with counts and the newest times: never one message per event or pod.

Only Events of that reason are listed (a field selector, paginated, streamed), in every
namespace: a busy cluster holds many thousands of other Events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import as_dict, timestamp
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from collections.abc import Iterable

    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

EVENTS = Resource("", "v1", "events")
REASON = "FailedCreatePodSandBox"
FIELD_SELECTOR = f"reason={REASON}"

MARKERS = (
    "failed to allocate for range",  # host-local IPAM (kubenet, overlay /24 per node)
    "no IP addresses available",  # host-local: "no IP addresses available in range set"
    "SubnetIsFull",  # Azure CNI / CNS: the subnet has no free address
    "NCUpdateSubnetFullError",  # CNS network container: subnet full (domain.md §1.5)
)
"""Texts that say a pod sandbox got no IP, in the order they are matched."""

MAX_PODS_LISTED = 5
"""Pods named per node and marker (most recent first); the rest are only counted."""
MAX_MESSAGE_CHARS = 512
"""The newest message is kept up to this length: CNS messages run to kilobytes."""


def ip_marker(message: str) -> str | None:
    """The first marker ``message`` contains (case-insensitive), else None."""
    lowered = message.lower()
    return next((m for m in MARKERS if m.lower() in lowered), None)


def event_times(event: KubeObject) -> tuple[datetime | None, datetime | None]:
    """(first, last) occurrence of a core/v1 Event: ``first/lastTimestamp``, or for events
    recorded through events.k8s.io, ``eventTime`` and ``series.lastObservedTime``."""
    series = as_dict(event.get("series"))
    last = _when(event.get("lastTimestamp")) or _when(series.get("lastObservedTime"))
    last = last or _when(event.get("eventTime"))
    last = last or _when(as_dict(event.get("metadata")).get("creationTimestamp"))
    first = _when(event.get("firstTimestamp")) or _when(event.get("eventTime")) or last
    return first, last


def event_count(event: KubeObject) -> int:
    return int(event.get("count") or as_dict(event.get("series")).get("count") or 1)


def event_node(event: KubeObject) -> str:
    """The reporting kubelet's node: ``source.host``, else ``reportingInstance``."""
    return str(as_dict(event.get("source")).get("host") or event.get("reportingInstance") or "")


def _when(value: Any) -> datetime | None:
    stamp = timestamp(value)
    return stamp.ToDatetime() if stamp is not None else None


@dataclass
class _Failures:
    events: int = 0
    occurrences: int = 0
    first: datetime | None = None
    last: datetime | None = None
    message: str = ""
    pods: dict[str, datetime | None] = field(default_factory=dict)


@dataclass
class IpAllocationDigest:
    """Events folded one at a time into per (node, marker) aggregates."""

    sandbox_events: int = 0
    failures: dict[tuple[str, str], _Failures] = field(default_factory=dict)

    def add(self, event: KubeObject) -> None:
        if event.get("reason") != REASON:
            return
        self.sandbox_events += 1
        marker = ip_marker(str(event.get("message", "")))
        if marker is None:
            return
        first, last = event_times(event)
        entry = self.failures.setdefault((event_node(event), marker), _Failures())
        entry.events += 1
        entry.occurrences += event_count(event)
        if first is not None and (entry.first is None or first < entry.first):
            entry.first = first
        if entry.last is None or (last is not None and last >= entry.last):
            entry.last = last if last is not None else entry.last
            entry.message = str(event.get("message", ""))[:MAX_MESSAGE_CHARS]
        involved = as_dict(event.get("involvedObject"))
        if involved.get("kind", "Pod") == "Pod" and involved.get("name"):
            pod = f"{involved.get('namespace', '')}/{involved['name']}"
            seen = entry.pods.get(pod)
            if pod not in entry.pods or (last is not None and (seen is None or last > seen)):
                entry.pods[pod] = last

    def fold(self, events: Iterable[KubeObject]) -> IpAllocationDigest:
        for event in events:
            self.add(event)
        return self

    def evidence(self) -> report_pb2.IpAllocationEvidence:
        result = report_pb2.IpAllocationEvidence(sandbox_events_seen=self.sandbox_events)
        for (node, marker), entry in sorted(self.failures.items()):
            failure = result.failures.add(
                node=node,
                marker=marker,
                events=entry.events,
                occurrences=entry.occurrences,
                pods=_most_recent(entry.pods)[:MAX_PODS_LISTED],
                pods_total=len(entry.pods),
                message=entry.message,
            )
            if entry.first is not None:
                failure.first_seen.FromDatetime(entry.first)
            if entry.last is not None:
                failure.last_seen.FromDatetime(entry.last)
        return result


def _most_recent(pods: dict[str, datetime | None]) -> list[str]:
    return sorted(pods, key=lambda p: (pods[p] is not None, pods[p] or datetime.min, p))[::-1]


def ip_allocation_failures(events: Iterable[KubeObject]) -> report_pb2.IpAllocationEvidence:
    """The evidence of a list of Events (any reason; others are skipped)."""
    return IpAllocationDigest().fold(events).evidence()


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    digest = reads.fold(EVENTS, IpAllocationDigest().fold, field_selector=FIELD_SELECTOR)
    if digest is not None:
        report.ip_allocation.CopyFrom(digest.evidence())


GATHERER = Gatherer(
    name="ip_allocation",
    reads=(access_for(EVENTS, verbs=("list",)),),
    gather=gather,
)
