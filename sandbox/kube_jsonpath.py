"""The JSONPath that CRD ``additionalPrinterColumns`` use, evaluated as the API server does.

The API server parses a column's ``jsonPath`` with client-go's ``jsonpath`` package and
keeps the first result. Printer columns use a small part of that language: fields
(``.spec.gatewayClassName``), wildcards and indexes (``.status.addresses[*].value``,
``.items[0]``) and filters on a field (``.status.conditions[?(@.type=="Programmed")].status``).
That part is what this module evaluates; anything else finds nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# One step: a field name, [*], [n], or a filter [?(@.a.b=="x")] / [?(@.a!='x')] / [?(@.a)].
_STEP = re.compile(
    r"""\.(?P<field>[^.\[]+)
      | \[(?P<wildcard>\*)\]
      | \[(?P<index>-?\d+)\]
      | \[\?\(@(?P<filter_path>(?:\.[^.=!)\s]+)+)\s*
            (?:(?P<operator>==|!=)\s*(?P<literal>"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false))?\s*\)\]
    """,
    re.VERBOSE,
)


class JsonPathError(ValueError):
    """A path outside the subset printer columns use."""


def _steps(path: str) -> list[re.Match[str]]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    steps, position = [], 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise JsonPathError(f"unsupported JSONPath {path!r} at {text[position:]!r}")
        steps.append(match)
        position = match.end()
    return steps


def _literal(text: str) -> Any:
    if text[0] in "\"'":
        return text[1:-1]
    return json.loads(text)


def _field(value: Any, dotted: str) -> tuple[bool, Any]:
    for name in dotted.strip(".").split("."):
        if not isinstance(value, Mapping) or name not in value:
            return False, None
        value = value[name]
    return True, value


def _keeps(item: Any, step: re.Match[str]) -> bool:
    found, value = _field(item, step["filter_path"])
    if step["operator"] is None:
        return found and value not in (None, False, "", 0)
    equal = found and value == _literal(step["literal"])
    return equal if step["operator"] == "==" else found and not equal


def find_results(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj`` (missing keys select nothing), in order."""
    values = [obj]
    for step in _steps(path):
        if step["field"] is not None:
            values = [
                v[step["field"]] for v in values if isinstance(v, Mapping) and step["field"] in v
            ]
        elif step["wildcard"] is not None:
            values = [
                item
                for v in values
                for item in (
                    v if isinstance(v, list) else v.values() if isinstance(v, Mapping) else ()
                )
            ]
        elif step["index"] is not None:
            position = int(step["index"])
            values = [
                v[position] for v in values if isinstance(v, list) and -len(v) <= position < len(v)
            ]
        else:
            values = [
                item for v in values if isinstance(v, list) for item in v if _keeps(item, step)
            ]
    return values


def text_of(value: Any) -> str:
    """How client-go's ``PrintResults`` writes one value: lists and maps as compact JSON,
    strings as they are, other scalars in Go's notation."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
