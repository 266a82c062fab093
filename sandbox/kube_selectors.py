"""Label and field selectors as the Kubernetes API server parses and applies them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Fields every kind can be selected on, plus the extra ones the API server registers per kind.
COMMON_FIELDS = ("metadata.name", "metadata.namespace")
EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "status.phase", "spec.serviceAccountName"),
    "events": (
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "reason",
        "type",
    ),
}


class SelectorError(ValueError):
    """A selector the API server would answer with 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" also match objects without the label, as in Kubernetes.
        return not present or value not in self.values


_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)$")
_EQUALITY_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=()]*)$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` value lists."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [t for t in terms if t]


def _checked_key(key: str, selector: str) -> str:
    if not _LABEL_KEY.match(key):
        raise SelectorError(
            f"unable to parse requirement: invalid label key {key!r} in {selector!r}"
        )
    return key


def _checked_value(value: str, selector: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise SelectorError(
            f"unable to parse requirement: invalid label value {value!r} in {selector!r}"
        )
    return value


def parse_label_selector(selector: str) -> tuple[Requirement, ...]:
    requirements = []
    for term in _split_terms(selector):
        if match := _SET_TERM.match(term):
            values = tuple(_checked_value(v.strip(), selector) for v in match["values"].split(","))
            key = _checked_key(match["key"], selector)
            requirements.append(Requirement(key, match["op"], values))
        elif match := _EQUALITY_TERM.match(term):
            operator = "!=" if match["op"] == "!=" else "="
            value = _checked_value(match["value"], selector)
            requirements.append(
                Requirement(_checked_key(match["key"], selector), operator, (value,))
            )
        elif term.startswith("!"):
            requirements.append(Requirement(_checked_key(term[1:].strip(), selector), "!"))
        else:
            requirements.append(Requirement(_checked_key(term, selector), "exists"))
    return tuple(requirements)


def label_matcher(selector: str) -> Callable[[Mapping[str, Any]], bool]:
    requirements = parse_label_selector(selector)

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def field_matcher(selector: str, plural: str) -> Callable[[Mapping[str, Any]], bool]:
    supported = COMMON_FIELDS + EXTRA_FIELDS.get(plural, ())
    terms = []
    for term in _split_terms(selector):
        match = _EQUALITY_TERM.match(term)
        if match is None:
            raise SelectorError(f"invalid field selector: {term!r}")
        if match["key"] not in supported:
            raise SelectorError(f"field label not supported: {match['key']}")
        terms.append((match["key"], match["op"] != "!=", match["value"]))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, key) == value) == equal for key, equal, value in terms)

    return matches
