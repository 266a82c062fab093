"""What a gatherer is: a name, the API access it needs, and a fill function.

A gatherer lists what it needs through a ``Reads`` (which turns failed reads
into ``Gap`` messages) and fills its part of the Report with pure
``dict -> protobuf`` functions kept in its own module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

KubeObject = dict[str, Any]

READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Resource:
    """An API resource a gatherer reads (group "" is the core group)."""

    group: str
    version: str
    plural: str

    @property
    def label(self) -> str:
        """``plural.group/version``, the name used in gaps."""
        if not self.group:
            return f"{self.plural}/{self.version}"
        return f"{self.plural}.{self.group}/{self.version}"


@dataclass(frozen=True)
class Access:
    """What RBAC must grant for a gatherer's reads.

    ``names`` restricts a get to named objects (RBAC ``resourceNames``);
    ``namespace`` None means cluster-wide.
    """

    group: str
    resource: str
    verbs: tuple[str, ...] = READ_VERBS
    names: tuple[str, ...] = ()
    namespace: str | None = None

    def allows(
        self, group: str, resource: str, verb: str, namespace: str | None, name: str | None
    ) -> bool:
        if (group, resource) != (self.group, self.resource) or verb not in self.verbs:
            return False
        if self.namespace is not None and namespace != self.namespace:
            return False
        return not self.names or name in self.names


def access_for(resource: Resource, **kwargs: Any) -> Access:
    """The RBAC access of reading ``resource`` (defaults: get/list/watch, cluster-wide)."""
    return Access(resource.group, resource.plural, **kwargs)


class KubeReader(Protocol):
    """The read API of ``netaudit.agent.kube.Kube`` that gatherers rely on."""

    def server_version(self) -> str: ...

    def served_resources(self, group: str, version: str) -> set[str] | None: ...

    def get_object(
        self, group: str, version: str, plural: str, name: str, namespace: str | None = None
    ) -> KubeObject: ...

    def list_objects(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        metadata_only: bool = False,
        field_selector: str | None = None,
    ) -> Iterator[KubeObject]: ...

    def pod_log(
        self, namespace: str, name: str, tail_lines: int, container: str | None = None
    ) -> str: ...

    def pod_proxy_get(
        self,
        namespace: str,
        name: str,
        port: int,
        path: str,
        timeout_seconds: float | None = None,
    ) -> bytes: ...


@dataclass(frozen=True)
class Gatherer:
    """One evidence source: registered once in ``gatherers.GATHERERS``."""

    name: str
    reads: tuple[Access, ...]
    gather: Callable[[Reads, report_pb2.Report, GatherSettings], None]
