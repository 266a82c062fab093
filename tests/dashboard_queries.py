"""Reading the committed Grafana dashboards (deploy/grafana/*.json) as PromQL: every panel's
queries and every variable's query, the metric names and template variables they use, and
the same PromQL with variables filled in so Prometheus tooling can parse it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import REPO

DASHBOARD_DIR = REPO / "deploy" / "grafana"

# Grafana's own variables and a duration Prometheus accepts in their place.
BUILTIN_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1d"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "atan2"}
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<series>.*),\s*\w+\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)
_VARIABLE = re.compile(r"\$\{?(?P<name>[A-Za-z_]\w*)\}?")
_REGEX_MATCH = re.compile(r'=~\s*"[^"]*"')


def committed() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data, including those inside collapsed rows."""
    for panel in board.get("panels", []):
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(board: dict[str, Any]) -> list[str]:
    return [target.get("expr", "") for panel in panels(board) for target in panel["targets"]]


def query_variables(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [var for var in board["templating"]["list"] if var["type"] == "query"]


def variable_promql(query: str) -> str:
    """The PromQL inside a Grafana variable query (label_values(series, label) or
    query_result(expr))."""
    if match := _LABEL_VALUES.match(query):
        return match["series"]
    if match := _QUERY_RESULT.match(query):
        return match["expr"]
    return query


def all_promql(board: dict[str, Any]) -> list[str]:
    variables = [variable_promql(var["query"]) for var in query_variables(board)]
    return [*panel_queries(board), *variables]


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    keywords, label names (in matchers or grouping) or strings."""
    text = _STRING.sub('""', promql)
    text = _MATCHERS.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def user_variables(text: str) -> set[str]:
    """Dashboard variables referenced ($name or ${name}), not Grafana's built-in ones."""
    return {name for name in _VARIABLE.findall(text) if name not in BUILTIN_DURATIONS}


def outside_regex_matchers(promql: str) -> str:
    """The expression without its `=~"…"` matchers: where a multi-valued variable (a regex
    alternation once Grafana fills it in) must not appear."""
    return _REGEX_MATCH.sub("", promql)


def for_prometheus(promql: str, chosen: dict[str, str] | None = None) -> str:
    """The expression as Grafana would send it: built-in intervals become durations and a
    dashboard variable becomes its `chosen` value (a regex), else matches anything."""
    values = {**BUILTIN_DURATIONS, **(chosen or {})}

    def fill(match: re.Match[str]) -> str:
        return values.get(match["name"], ".*")

    return _VARIABLE.sub(fill, promql)


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))
