"""A cluster read from files: ``kubectl get ... -o json`` output, one folder per cluster.

:class:`DumpReader` is the agent's ``KubeReader`` over such a folder, so a dump
goes through the agent's own gatherers (``netaudit-agent snapshot --from-dump``
and ``netaudit audit --k8s``). Files may have any name and hold List documents
(``kubectl get pods -A -o json``, or several kinds at once) or single objects,
as JSON or YAML. What a dump says:

* a kind with objects, or an empty List of it, is complete: an empty List means
  none exist. kubectl prints an empty List without its kind, so an empty
  ``List`` counts for the kind its file is named after (``networkpolicies.json``,
  ``netpol.json``, ``crds.json``); otherwise it is a warning;
* a kind with no file is unknown: reading it fails with the gap reason
  ``not_in_dump``, so the rules that need it come out not assessed;
* a custom kind is served when the dump's CustomResourceDefinitions say so; a
  dump without them cannot tell, and its custom kinds are not_in_dump too;
* pod logs, pod endpoints (metrics) and DNS probes are never in a dump;
* ``kubectl version -o json`` output gives the server version, and a file named
  ``cluster-id`` the ARM resource id of the managed cluster.

Lists should be cluster-wide (``-A``): a kind's objects are taken as all there are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netaudit.agent.config import AgentSettings, DnsSettings, GatherSettings
from netaudit.agent.errors import ConfigError, KubeError, KubeNotFound
from netaudit.agent.gatherers import GATHERERS
from netaudit.agent.gatherers.gatherer import KubeObject, Resource
from netaudit.agent.kinds import CRD_KEY, KindTable, custom_kind, split_api_version
from netaudit.agent.report import build_report
from netaudit.agent.selectors import field_matcher, label_matcher
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

NOT_IN_DUMP = "not_in_dump"
"""The gap reason of a read the dump cannot answer."""
CLUSTER_ID_FILE = "cluster-id"
DUMP_SUFFIXES = (".json", ".yaml", ".yml")

ObjectKey = tuple[str, str]
"""(group, plural): how a dump files an object, whatever version it was read at."""


class KubeNotInDump(KubeError):
    """The dump holds nothing that answers this read."""

    reason = NOT_IN_DUMP


@dataclass
class Dump:
    """What one cluster's folder holds."""

    folder: Path
    kinds: KindTable = field(default_factory=KindTable)
    objects: dict[ObjectKey, list[KubeObject]] = field(default_factory=dict)
    versions: dict[ObjectKey, set[str]] = field(default_factory=dict)
    server_version: str | None = None
    cluster_id: str = ""
    warnings: list[str] = field(default_factory=list)
    identities: set[tuple[ObjectKey, str, str, str]] = field(default_factory=set, repr=False)

    @property
    def crds_listed(self) -> bool:
        return CRD_KEY in self.objects

    def warn(self, path: Path, message: str) -> None:
        """One warning per file: the first thing wrong with it."""
        if any(w.startswith(f"{path}: ") for w in self.warnings):
            return
        line = f"{path}: {message}"
        log.warning("%s", line)
        self.warnings.append(line)


def load_dump(folder: Path) -> Dump:
    """Every Kubernetes file below ``folder``; an unreadable or unrecognised file is one
    warning naming it, and the rest is read."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder of `kubectl get ... -o json` files")
    dump = Dump(folder, cluster_id=read_cluster_id(folder))
    documents: list[tuple[Path, Any]] = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in DUMP_SUFFIXES):
        if path.is_file():
            try:
                documents += [(path, d) for d in _parse(path) if d is not None]
            except ValueError as error:
                dump.warn(path, str(error))
    crds = [d for _, doc in documents for d in _objects_of_kind(doc, "CustomResourceDefinition")]
    dump.kinds = KindTable(c for c in map(custom_kind, crds) if c is not None)
    for path, document in documents:
        _add_document(dump, path, document)
    return dump


def read_cluster_id(folder: Path) -> str:
    """The ARM id in ``folder/cluster-id`` ("" when there is no such file)."""
    path = folder / CLUSTER_ID_FILE
    try:
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error


def _parse(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read: {error}") from error
    if path.suffix.lower() == ".json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON: {error}") from error
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise ValueError(f"not valid YAML: {str(error).splitlines()[0]}") from error


def _objects_of_kind(document: Any, kind: str) -> Iterator[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return
    if document.get("kind") == kind:
        yield document
    items = document.get("items")
    typed = document.get("kind") == f"{kind}List"
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and (typed or item.get("kind") == kind):
            yield item


def _add_document(dump: Dump, path: Path, document: Any) -> None:
    if not isinstance(document, Mapping):
        dump.warn(path, "not a Kubernetes object or List (kubectl get ... -o json output)")
        return
    version = _server_version(document)
    if version is not None:
        dump.server_version = version
        return
    kind = str(document.get("kind") or "")
    items = document.get("items")
    if isinstance(items, list) and kind.endswith("List"):
        _add_list(dump, path, document, kind.removesuffix("List"), items)
    elif kind and document.get("apiVersion") and isinstance(document.get("metadata"), Mapping):
        _add_object(dump, document, str(document["apiVersion"]), kind)
    else:
        dump.warn(path, "not a Kubernetes object or List (kubectl get ... -o json output)")


def _add_list(
    dump: Dump, path: Path, document: Mapping[str, Any], list_kind: str, items: list[Any]
) -> None:
    """A List: typed (``NodeList`` from the API) or kubectl's generic ``List``, whose items
    name their own kind."""
    api_version = str(document.get("apiVersion") or "") if list_kind else ""
    if not items:
        _add_empty_list(dump, path, list_kind, api_version)
        return
    unnamed = 0
    for item in items:
        item_kind = item.get("kind") if isinstance(item, Mapping) else None
        item_api = item.get("apiVersion") if isinstance(item, Mapping) else None
        if not isinstance(item, Mapping) or not (item_kind or list_kind):
            unnamed += 1
            continue
        _add_object(dump, item, str(item_api or api_version), str(item_kind or list_kind))
    if unnamed:
        dump.warn(path, f"{unnamed} of {len(items)} items name no kind; they were left out")


def _add_empty_list(dump: Dump, path: Path, list_kind: str, api_version: str) -> None:
    if list_kind:
        group, version = split_api_version(api_version)
        _mark(dump, (group, dump.kinds.plural(group, list_kind)), version)
        return
    named = dump.kinds.named(path.stem) or dump.kinds.named(path.stem.split(".")[0])
    if named is None:
        dump.warn(
            path,
            "an empty List does not say its kind; name the file after the kind "
            "(e.g. networkpolicies.json) so that it means none exist",
        )
        return
    _mark(dump, (named.group, named.plural), "")


def _add_object(dump: Dump, obj: Mapping[str, Any], api_version: str, kind: str) -> None:
    group, version = split_api_version(api_version)
    key = (group, dump.kinds.plural(group, kind))
    objects = _mark(dump, key, version)
    identity = (key, *_identity(obj))
    if identity in dump.identities:
        return  # the same object in two files (a kind listed twice, or listed and got)
    dump.identities.add(identity)
    objects.append(dict(obj))


def _mark(dump: Dump, key: ObjectKey, version: str) -> list[KubeObject]:
    if version:
        dump.versions.setdefault(key, set()).add(version)
    return dump.objects.setdefault(key, [])


def _identity(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    return (
        str(metadata.get("uid") or ""),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def _server_version(document: Mapping[str, Any]) -> str | None:
    """``gitVersion`` of ``kubectl version -o json`` or of the API's ``/version``."""
    server = document.get("serverVersion")
    if isinstance(server, Mapping) and server.get("gitVersion"):
        return str(server["gitVersion"])
    if "kind" not in document and document.get("gitVersion") and "major" in document:
        return str(document["gitVersion"])
    return None


class DumpReader:
    """The agent's ``KubeReader`` over a :class:`Dump`."""

    def __init__(self, dump: Dump) -> None:
        self.dump = dump

    def server_version(self) -> str:
        if self.dump.server_version is None:
            raise KubeNotInDump(
                "version", f"no `kubectl version -o json` output in {self.dump.folder}"
            )
        return self.dump.server_version

    def served_resources(self, group: str, version: str) -> set[str] | None:
        dumped = {
            plural
            for (kind_group, plural), versions in self.dump.versions.items()
            if kind_group == group and version in versions
        }
        builtin = self.dump.kinds.builtin_plurals(group, version)
        if builtin is not None:
            return builtin | dumped
        if self.dump.crds_listed:
            defined = {
                c.kind.plural
                for c in self.dump.kinds.custom.values()
                if c.kind.group == group and version in c.served_versions
            }
            return (defined | dumped) or None
        if dumped:
            return dumped
        raise KubeNotInDump(
            Resource(group, version, "*").label,
            f"whether {group}/{version} is served is not in the dump: it holds no "
            "CustomResourceDefinitions (kubectl get crds -o json)",
        )

    def get_object(
        self, group: str, version: str, plural: str, name: str, namespace: str | None = None
    ) -> KubeObject:
        objects = self.dump.objects.get((group, plural))
        if objects is None:
            raise self._missing(group, version, plural)
        for obj in objects:
            metadata = obj.get("metadata") or {}
            if metadata.get("name") == name and (namespace is None or _namespace(obj) == namespace):
                return obj
        where = f"{namespace}/{name}" if namespace else name
        raise KubeNotFound(Resource(group, version, plural).label, f"{where} is not in the dump")

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
    ) -> Iterator[KubeObject]:
        objects = self.dump.objects.get((group, plural))
        if objects is None:
            raise self._missing(group, version, plural)
        labels, fields = label_matcher(label_selector), field_matcher(field_selector)
        for obj in objects:
            if (namespace is None or _namespace(obj) == namespace) and labels(obj) and fields(obj):
                yield obj

    def pod_log(
        self, namespace: str, name: str, tail_lines: int, container: str | None = None
    ) -> str:
        raise KubeNotInDump("pods/log", "pod logs are not in a dump")

    def pod_proxy_get(
        self,
        namespace: str,
        name: str,
        port: int,
        path: str,
        timeout_seconds: float | None = None,
    ) -> bytes:
        raise KubeNotInDump("pods/proxy", "pod endpoints (metrics) are not in a dump")

    def _missing(self, group: str, version: str, plural: str) -> KubeError:
        label = Resource(group, version, plural).label
        if self.dump.kinds.builtin_plurals(group, version) is None:
            served = self.served_resources(group, version)
            if served is None or plural not in served:
                return KubeNotFound(label, "not served: no CustomResourceDefinition in the dump")
        kind = f"{plural}.{group}" if group else plural
        return KubeNotInDump(
            label, f"not in the dump: no `kubectl get {kind} -A -o json` in {self.dump.folder}"
        )


def _namespace(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def report_from_dump(
    dump: Dump, identity: report_pb2.ClusterIdentity, gather: GatherSettings | None = None
) -> report_pb2.Report:
    """A report built by the agent's gatherers from a dump: no DNS probes (a dump has no
    network to probe), and gaps for what the dump does not hold."""
    settings = AgentSettings.model_construct(
        gather=gather or GatherSettings(),
        dns=DnsSettings(probe_names=[], extra_probe_names=[]),
    )
    return build_report(DumpReader(dump), identity, settings)


def dumped_kinds() -> list[str]:
    """What a complete dump holds: each kind the gatherers read, as ``kubectl get`` names it
    (``pods``, ``gateways.gateway.networking.k8s.io``); subresources (logs) cannot be dumped."""
    kinds = {
        f"{access.resource}.{access.group}" if access.group else access.resource
        for gatherer in GATHERERS
        for access in gatherer.reads
        if "/" not in access.resource
    }
    return sorted(kinds)
