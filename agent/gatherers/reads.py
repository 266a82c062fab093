"""A gatherer's reads: cached per report, checked against its declared access,
and turned into ``Gap`` messages when they fail (unknown is not absent)."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from netaudit.agent.errors import KubeError, KubeNotFound
from netaudit.agent.gatherers.gatherer import Access, KubeObject, KubeReader, Resource
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")
ListKey = tuple[str, str, str, str | None, str | None, bool]


NOT_SERVED = "not_found"
"""The gap reason for a kind the API server does not serve."""


class UndeclaredRead(RuntimeError):
    """A gatherer read something its ``reads`` (and so the ClusterRole) does not list."""


class ReadCache:
    """Reads shared by the gatherers of one report: a kind two gatherers need is listed once."""

    def __init__(self, kube: KubeReader) -> None:
        self.kube = kube
        self._lists: dict[ListKey, list[KubeObject] | KubeError] = {}
        self._served: dict[tuple[str, str], set[str] | KubeError | None] = {}

    def list(
        self,
        resource: Resource,
        namespace: str | None,
        label_selector: str | None,
        metadata_only: bool,
    ) -> list[KubeObject]:
        key: ListKey = (
            resource.group,
            resource.version,
            resource.plural,
            namespace,
            label_selector,
            metadata_only,
        )
        full_key: ListKey = (*key[:5], False)
        cached = self._lists.get(key, self._lists.get(full_key))
        if cached is None:
            try:
                cached = [
                    _without_managed_fields(obj)
                    for obj in self.kube.list_objects(
                        resource.group,
                        resource.version,
                        resource.plural,
                        namespace,
                        label_selector,
                        metadata_only=metadata_only,
                    )
                ]
            except KubeError as error:
                cached = error
            self._lists[key] = cached
        if isinstance(cached, KubeError):
            raise cached
        return cached

    def served(self, group: str, version: str) -> set[str] | None:
        cached = self._served.get((group, version), ())
        if cached == ():
            try:
                cached = self.kube.served_resources(group, version)
            except KubeError as error:
                cached = error
            self._served[(group, version)] = cached
        if isinstance(cached, KubeError):
            raise cached
        assert not isinstance(cached, tuple)
        return cached


def _without_managed_fields(obj: KubeObject) -> KubeObject:
    """A listed object as the report keeps it: no gatherer reads ``managedFields``, a fifth
    of a parsed pod (5,000 azure-cns pods held for a report: 93 MiB with, 74 MiB without).
    Only kept lists shed them: dropping them from streamed pages costs more than it saves."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


class Reads:
    """One gatherer's reads; every failure becomes a Gap in ``report``."""

    def __init__(
        self,
        cache: ReadCache,
        gatherer: str,
        access: tuple[Access, ...],
        report: report_pb2.Report,
    ) -> None:
        self._cache = cache
        self.gatherer = gatherer
        self._access = access
        self._report = report
        self._gapped: set[tuple[str, str]] = set()

    # -- reads ---------------------------------------------------------------

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> builtins.list[KubeObject] | None:
        """All objects of a kind, or None (with a Gap) when they cannot be read."""
        self._check(resource.group, resource.plural, "list", namespace, None)
        try:
            return self._cache.list(resource, namespace, label_selector, metadata_only)
        except KubeError as error:
            self.gap(resource.label, error.reason, error.message)
            return None

    def list_served(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> builtins.list[KubeObject] | None:
        """Like ``list`` for a custom resource: a not_found Gap when its CRD is not installed."""
        served = self.served(resource)
        if served is None:
            return None
        if not served:
            self.gap(resource.label, NOT_SERVED, "not served by the API server (CRD not installed)")
            return None
        return self.list(resource, namespace, metadata_only=metadata_only)

    def fold(
        self,
        resource: Resource,
        consume: Callable[[Iterable[KubeObject]], T],
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        field_selector: str | None = None,
    ) -> T | None:
        """Stream a large list through ``consume`` without keeping it (pods, events).

        A failure part-way discards the partial result: a half-counted list
        is reported as unknown, not as a smaller number.
        """
        self._check(resource.group, resource.plural, "list", namespace, None)
        objects: Iterator[KubeObject] = self._cache.kube.list_objects(
            resource.group,
            resource.version,
            resource.plural,
            namespace,
            label_selector,
            field_selector=field_selector,
        )
        try:
            return consume(objects)
        except KubeError as error:
            self.gap(resource.label, error.reason, error.message)
            return None

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> KubeObject | None:
        """One named object; None when it does not exist or cannot be read (then a Gap)."""
        self._check(resource.group, resource.plural, "get", namespace, name)
        try:
            return self._cache.kube.get_object(
                resource.group, resource.version, resource.plural, name, namespace
            )
        except KubeNotFound:
            return None
        except KubeError as error:
            where = f"{namespace}/{name}" if namespace else name
            self.gap(f"{resource.label} {where}", error.reason, error.message)
            return None

    def served(self, resource: Resource) -> bool | None:
        """Whether the API server serves ``resource``; None (with a Gap) when discovery fails."""
        try:
            served = self._cache.served(resource.group, resource.version)
        except KubeError as error:
            self.gap(resource.label, error.reason, f"discovery failed: {error.message}")
            return None
        return served is not None and resource.plural in served

    def pod_log(
        self, namespace: str, name: str, tail_lines: int, container: str | None = None
    ) -> str | None:
        self._check("", "pods/log", "get", namespace, name)
        try:
            return self._cache.kube.pod_log(namespace, name, tail_lines, container)
        except KubeError as error:
            self.gap(f"pods/log {namespace}/{name}", error.reason, error.message)
            return None

    def pod_proxy_get(
        self,
        namespace: str,
        name: str,
        port: int,
        path: str,
        timeout_seconds: float | None = None,
    ) -> bytes | None:
        """A Pod's own HTTP endpoint through the API server; None (with a Gap) when it
        cannot be read (pod gone, port closed, proxy forbidden, no answer in time)."""
        self._check("", "pods/proxy", "get", namespace, name)
        try:
            return self._cache.kube.pod_proxy_get(namespace, name, port, path, timeout_seconds)
        except KubeError as error:
            self.gap(f"pods/proxy {namespace}/{name}:{port}", error.reason, error.message)
            return None

    # -- gaps ----------------------------------------------------------------

    def gap(self, resource: str, reason: str, message: str) -> None:
        """Record once that ``resource`` could not be read, and why."""
        if (resource, reason) in self._gapped:
            return
        self._gapped.add((resource, reason))
        # A kind the cluster does not serve (a CRD not installed) is normal on most
        # clusters; the gap in the report says so without a log line per CRD.
        level = logging.DEBUG if reason == NOT_SERVED else logging.INFO
        log.log(level, "%s: cannot read %s (%s): %s", self.gatherer, resource, reason, message)
        self._report.gaps.add(
            gatherer=self.gatherer, resource=resource, reason=reason, message=message
        )

    def each(
        self, objects: Iterable[KubeObject], convert: Callable[[KubeObject], T], what: str
    ) -> builtins.list[T]:
        """Convert every object; a malformed one becomes a Gap instead of losing the rest."""
        converted: builtins.list[T] = []
        for obj in objects:
            try:
                converted.append(convert(obj))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                metadata = obj.get("metadata") if isinstance(obj, dict) else None
                metadata = metadata if isinstance(metadata, dict) else {}
                name = "/".join(
                    str(part) for part in (metadata.get("namespace"), metadata.get("name")) if part
                )
                self.gap(f"{what} {name}".strip(), "error", f"malformed object: {error!r}")
        return converted

    def _check(
        self, group: str, resource: str, verb: str, namespace: str | None, name: str | None
    ) -> None:
        if not any(a.allows(group, resource, verb, namespace, name) for a in self._access):
            target = f"{resource}.{group}" if group else resource
            raise UndeclaredRead(
                f"gatherer {self.gatherer} reads {verb} {target} "
                f"(namespace={namespace}, name={name}) without declaring it"
            )
