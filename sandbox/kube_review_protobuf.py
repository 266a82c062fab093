"""Access reviews as kubectl sends them in Kubernetes' protobuf encoding.

kubectl up to 1.30 (the version gcloud's kubectl dispatcher picks for a 1.30
server) posts SelfSubjectAccessReview and SelfSubjectRulesReview as
``application/vnd.kubernetes.protobuf``: the ``k8s\\0`` magic, then a
``runtime.Unknown`` whose ``raw`` is the review message. Only the spec matters to
the sandbox, so this reads the wire format for the few fields a review's spec has
(field numbers from k8s.io/api/authorization/v1/generated.proto) and returns the
spec as its JSON form. Answers go back as JSON, which such clients also accept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
RESOURCE_ATTRIBUTES = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}
NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}


class ProtobufError(ValueError):
    """Bytes that are not a protobuf-encoded Kubernetes object."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """(field number, value) of one message; length-delimited values as bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise ProtobufError("truncated field")
            yield number, data[position : position + length]
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")


def _message(data: bytes, number: int) -> bytes:
    """The last occurrence of embedded message ``number`` (empty if absent)."""
    found = b""
    for field, value in _fields(data):
        if field == number and isinstance(value, bytes):
            found = value
    return found


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    return {
        names[field]: value.decode()
        for field, value in _fields(data)
        if field in names and isinstance(value, bytes) and value
    }


def decode_review(body: bytes) -> dict[str, Any]:
    """``{"kind": ..., "spec": {...}}`` of a protobuf-encoded review."""
    if not body.startswith(MAGIC):
        raise ProtobufError("no k8s protobuf magic")
    unknown = body[len(MAGIC) :]
    type_meta = _strings(_message(unknown, 1), {1: "apiVersion", 2: "kind"})
    spec_bytes = _message(_message(unknown, 2), 2)
    spec: dict[str, Any] = {}
    if type_meta.get("kind") == "SelfSubjectRulesReview":
        spec = _strings(spec_bytes, {1: "namespace"})
    else:
        resource = _message(spec_bytes, 1)
        non_resource = _message(spec_bytes, 2)
        if resource:
            spec["resourceAttributes"] = _strings(resource, RESOURCE_ATTRIBUTES)
        if non_resource:
            spec["nonResourceAttributes"] = _strings(non_resource, NON_RESOURCE_ATTRIBUTES)
    return {**type_meta, "spec": spec}
