"""The objects a sandbox cluster serves, loaded from a directory of YAML fixtures."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from netaudit.sandbox.errors import FixtureError
from netaudit.sandbox.kube_endpointslices import derived_endpoint_slices
from netaudit.sandbox.kube_resources import (
    BUILTIN_RESOURCES,
    ResourceCatalogue,
    ResourceType,
    resource_types_from_crd,
)

logger = logging.getLogger(__name__)

# Objects without a creationTimestamp get this one, so ages are stable across runs.
DEFAULT_CREATION_TIMESTAMP = "2026-10-01T08:00:00Z"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_UID_NAMESPACE = uuid.UUID("6c1f7b1e-4f0a-4c59-9a43-6b1e0f5d2a10")

Object = dict[str, Any]
# libyaml's loader when PyYAML was built with it: the sample fleet parses ~10x faster.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def object_key(obj: Mapping[str, Any]) -> str:
    """The etcd-style key objects are sorted and paginated by: ``namespace/name``."""
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def _documents(path: Path) -> Iterator[Object]:
    try:
        with path.open(encoding="utf-8") as stream:
            documents = list(yaml.load_all(stream, Loader=_YAML_LOADER))
    except (OSError, yaml.YAMLError) as error:
        raise FixtureError(f"cannot read Kubernetes fixture {path}: {error}") from error
    for document in documents:
        yield from _expanded(document, path)


def _expanded(document: Any, path: Path) -> Iterator[Object]:
    if document is None:
        return
    if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
        raise FixtureError(f"{path}: every document needs apiVersion and kind")
    if str(document["kind"]).endswith("List") and isinstance(document.get("items"), list):
        for item in document["items"]:
            yield from _expanded(item, path)
        return
    yield document


class KubeStore(Protocol):
    """What the sandbox API server reads objects from: the fixtures (``KubeObjectStore``) or a
    generated cluster (``synthetic_cluster``). Sequences are sorted by ``object_key``."""

    @property
    def catalogue(self) -> ResourceCatalogue: ...

    @property
    def resource_version(self) -> str: ...

    def objects(self, resource: ResourceType, namespace: str | None = None) -> Sequence[Object]: ...

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> Object | None: ...

    def indexed(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str,
        field_selector: str,
    ) -> Sequence[Object] | None:
        """The objects a selection matches when the store keeps an index answering it without
        looking at every object; None to have the server filter ``objects()`` itself."""
        ...


@runtime_checkable
class EncodedObjects(Protocol):
    """Objects a store already holds as JSON text (generated ones): a list splices the text
    instead of building and encoding dicts."""

    def json_items(self, api_version: str | None, kind: str) -> str:
        """The objects as a JSON array's inside; with ``apiVersion``/``kind`` when given."""
        ...


class KubeObjectStore:
    """Objects by resource type, sorted by key, with the metadata an API server fills in."""

    def __init__(self, catalogue: ResourceCatalogue, documents: list[Object], cluster: str) -> None:
        self.catalogue = catalogue
        self._cluster = cluster
        self._objects: dict[tuple[str, str], dict[str, Object]] = {}
        self._revision = 0
        for document in documents:
            self._add(document)
        self._add_missing_namespaces()
        self._add_endpoint_slices()
        self._sorted = {
            resource: [objects[k] for k in sorted(objects)]
            for resource, objects in self._objects.items()
        }

    @classmethod
    def load(cls, fixture_dir: Path, extra: Iterable[Object] = ()) -> KubeObjectStore:
        """The fixtures of ``fixture_dir``, plus ``extra`` documents (generated objects)."""
        if not fixture_dir.is_dir():
            raise FixtureError(f"Kubernetes fixture directory {fixture_dir} does not exist")
        documents = [
            doc for path in sorted(fixture_dir.rglob("*.yaml")) for doc in _documents(path)
        ]
        documents += extra
        crd_types = []
        for document in documents:
            if document["kind"] == "CustomResourceDefinition":
                resource = resource_types_from_crd(document)
                if resource is not None:
                    crd_types.append(resource)
        builtin = {(t.group, t.plural) for t in BUILTIN_RESOURCES}
        served = list(BUILTIN_RESOURCES) + [
            t for t in crd_types if (t.group, t.plural) not in builtin
        ]
        return cls(ResourceCatalogue(served), documents, fixture_dir.name)

    @property
    def resource_version(self) -> str:
        return str(self._revision)

    def objects(self, resource: ResourceType, namespace: str | None = None) -> list[Object]:
        found = self._sorted.get((resource.group, resource.plural), [])
        if namespace is None:
            return found
        return [o for o in found if o["metadata"].get("namespace") == namespace]

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> Object | None:
        objects = self._objects.get((resource.group, resource.plural), {})
        return objects.get(f"{namespace or ''}/{name}")

    def indexed(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str,
        field_selector: str,
    ) -> Sequence[Object] | None:
        return None

    def _add(self, document: Object) -> None:
        group, _ = split_api_version(str(document["apiVersion"]))
        resource = self.catalogue.by_kind(group, str(document["kind"]))
        if resource is None:
            logger.debug("fixture kind %s/%s is not served; skipped", group, document["kind"])
            return
        obj = copy.deepcopy(document)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name"):
            raise FixtureError(f"a {document['kind']} fixture has no metadata.name")
        if resource.namespaced:
            metadata.setdefault("namespace", "default")
        else:
            metadata.pop("namespace", None)
        self._complete_metadata(resource, metadata)
        objects = self._objects.setdefault((resource.group, resource.plural), {})
        key = object_key(obj)
        if key in objects:
            logger.warning("fixture %s %s defined twice; the last one wins", resource.kind, key)
        objects[key] = obj

    def _complete_metadata(self, resource: ResourceType, metadata: dict[str, Any]) -> None:
        self._revision += 1
        namespace = metadata.get("namespace", "")
        identity = (
            f"{self._cluster}/{resource.group}/{resource.kind}/{namespace}/{metadata['name']}"
        )
        metadata.setdefault("uid", str(uuid.uuid5(_UID_NAMESPACE, identity)))
        metadata.setdefault("resourceVersion", str(self._revision))
        metadata.setdefault("creationTimestamp", DEFAULT_CREATION_TIMESTAMP)
        if resource.group:
            metadata.setdefault("generation", 1)
        revision = metadata["resourceVersion"]
        if str(revision).isdigit():
            self._revision = max(self._revision, int(revision))

    def _add_endpoint_slices(self) -> None:
        """What the endpointslice controller would have written for the fixtures' Services."""
        if self.catalogue.by_kind("discovery.k8s.io", "EndpointSlice") is None:
            return

        def stored(group: str, plural: str) -> list[Object]:
            return list(self._objects.get((group, plural), {}).values())

        for endpoint_slice in derived_endpoint_slices(
            stored("", "services"),
            stored("", "pods"),
            stored("", "nodes"),
            stored("discovery.k8s.io", "endpointslices"),
        ):
            self._add(endpoint_slice)

    def _add_missing_namespaces(self) -> None:
        namespace_type = self.catalogue.by_kind("", "Namespace")
        if namespace_type is None:
            return
        used = set(SYSTEM_NAMESPACES)
        for (_, _), objects in self._objects.items():
            used.update(
                o["metadata"]["namespace"] for o in objects.values() if "namespace" in o["metadata"]
            )
        existing = self._objects.setdefault(("", "namespaces"), {})
        for name in sorted(used):
            if f"/{name}" not in existing:
                self._add(
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    }
                )
