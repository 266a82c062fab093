"""Label and field selectors applied to objects the agent holds itself (a dump's files),
with the API server's meaning: ``a=b,c!=d,e in (f,g),h notin (i),j,!k`` on labels and
``metadata.name=x,status.phase!=Running`` on fields."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)$")
_EQUALITY_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=()]*)$")


class SelectorError(ValueError):
    """A selector the API server would refuse (400 BadRequest)."""


def split_terms(selector: str) -> list[str]:
    """The comma-separated terms, keeping the commas inside ``in (...)`` value lists."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [term for term in terms if term]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _SET_TERM.match(term):
        key, values = match["key"], {v.strip() for v in match["values"].split(",")}
        if match["op"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY_TERM.match(term):
        key, value = match["key"], match["value"]
        if match["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        absent = term[1:].strip()
        return lambda labels: absent not in labels
    if not term or any(char in term for char in " =!()"):
        raise SelectorError(f"unable to parse label selector term {term!r}")
    return lambda labels: term in labels


def label_matcher(selector: str | None) -> Matcher:
    """Whether an object's ``metadata.labels`` satisfy ``selector`` (None: every object)."""
    terms = [_label_term(term) for term in split_terms(selector or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at a dotted path (``spec.nodeName``) as the API server compares it."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def field_matcher(selector: str | None) -> Matcher:
    """Whether an object's fields satisfy ``selector`` (None: every object)."""
    terms = []
    for term in split_terms(selector or ""):
        match = _EQUALITY_TERM.match(term)
        if match is None:
            raise SelectorError(f"unable to parse field selector term {term!r}")
        terms.append((match["key"], match["op"] != "!=", match["value"]))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, key) == value) == equal for key, equal, value in terms)

    return matches
