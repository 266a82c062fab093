"""`netaudit rules` and `netaudit rules show ID`: the catalogue, and one rule in full.

A rule's condition is its check's docstring (what it tests and with which
thresholds), so the sheet says what the code does; a rule whose evidence is not
gathered yet says what it waits for instead.
"""

from __future__ import annotations

import difflib
import inspect
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence

from netaudit.collector.reports.model import severity_label
from netaudit.collector.rules import Rule, RuleSettings
from netaudit.collector.rules.rule import Needs

WIDTH = 88
# The checks' docstrings cite the design notes; a user has no use for the citation.
_CITATION = re.compile(r"\s*\(domain\.md[^()]*\)")


def need_text(need: Needs) -> str:
    """``agent services (optional)``: one input the rule reads, with how it is used."""
    notes = [
        note
        for flag, note in (
            (need.optional, "optional"),
            (need.not_served_means_none, "absent CRD means none"),
        )
        if flag
    ]
    return need.describe() + (f" ({', '.join(notes)})" if notes else "")


def needs_text(rule: Rule) -> str:
    """Every input of the rule, comma-separated; the alternatives of which one is enough
    (``either``) joined by "or" where the first of them is."""
    alternatives = " or ".join(need_text(need) for need in rule.reads if need.either)
    parts: list[str] = []
    for need in rule.reads:
        if not need.either:
            parts.append(need_text(need))
        elif alternatives:
            parts.append(alternatives)
            alternatives = ""
    return ", ".join(parts)


def render_rule_list(rules: Sequence[Rule]) -> str:
    """One line per rule: id, base severity, source, "pending" when its evidence is not
    gathered yet, title, and the data it needs."""
    title_width = max(len(rule.title) for rule in rules)
    lines = []
    for rule in rules:
        state = "pending" if rule.pending_evidence else ""
        severity = severity_label(rule.severity).upper()
        lines.append(
            f"{rule.id:8}  {severity:8}  {rule.data_source:5}  {state:7}  "
            f"{rule.title:{title_width}}  needs: {needs_text(rule)}"
        )
    return "\n".join(lines)


def nearest_rule_ids(query: str, rule_ids: Iterable[str], count: int = 3) -> list[str]:
    """The ids closest to ``query``: those it begins (a family, ``KUB``), then the most
    similar (a typo, ``CNI-0001``), lower ids first among equals."""
    wanted = query.strip().upper()
    ids = sorted(rule_ids)
    prefixed = [rule_id for rule_id in ids if wanted and rule_id.startswith(wanted)]
    scored = sorted(
        (-difflib.SequenceMatcher(None, wanted, rule_id).ratio(), rule_id) for rule_id in ids
    )
    similar = [rule_id for score, rule_id in scored if -score >= 0.6]
    return list(dict.fromkeys([*prefixed, *similar]))[:count]


def render_rule_sheet(rule: Rule, settings: RuleSettings) -> str:
    """Everything about one rule: severity, source, needs and the configuration in effect,
    then rationale, condition, thresholds, remediation and references."""
    lines = [f"{rule.id}  {rule.title}", ""]
    lines += _facts(rule, settings)
    sections: list[tuple[str, list[str]]] = [
        ("Rationale", _paragraph(rule.rationale)),
        ("Condition", _condition(rule)),
        ("Thresholds", _thresholds(rule, settings)),
        ("Remediation", _paragraph(rule.remediation)),
        ("References", [f"  {reference}" for reference in rule.references]),
    ]
    for heading, body in sections:
        if body:
            lines += ["", heading, *body]
    return "\n".join(lines)


def _facts(rule: Rule, settings: RuleSettings) -> list[str]:
    severity = severity_label(rule.severity)
    override = settings.severity_override(rule.id)
    if override is not None and severity_label(override) != severity:
        severity = f"{severity_label(override)} (configured; base {severity})"
    facts = [
        ("severity", severity),
        ("source", str(rule.data_source)),
        ("needs", needs_text(rule)),
        ("state", _state(rule, settings)),
    ]
    return [
        line
        for name, value in facts
        for line in _wrapped(value, initial=f"{name + ':':10}", subsequent=" " * 10)
    ]


def _state(rule: Rule, settings: RuleSettings) -> str:
    if not settings.enabled(rule.id):
        return f"disabled in the configuration (rules.{rule.id}.enabled)"
    if rule.pending_evidence:
        return "pending: its evidence is not gathered yet, so it comes out not assessed"
    config = settings.per_rule.get(rule.id)
    scope = config.scope if config is not None else None
    if scope is not None and (scope.subscriptions or scope.resource_groups or scope.clusters):
        return f"enabled, scoped in the configuration (rules.{rule.id}.scope)"
    return "enabled"


def _condition(rule: Rule) -> list[str]:
    if rule.check is None:
        waits = "; ".join(rule.pending_evidence)
        return _paragraph(f"Not evaluated yet: it needs {waits}, which is not gathered yet.")
    lines = _paragraph(_docstring(rule.check))
    if rule.fleet is not None:
        kind, check = rule.fleet
        lines += _paragraph(f"Across the fleet (clusters sharing a {kind}): {_docstring(check)}")
    return lines


def _docstring(function: Callable[..., object]) -> str:
    text = " ".join((inspect.getdoc(function) or "").split())
    return _CITATION.sub("", text).replace("``", "")


def _thresholds(rule: Rule, settings: RuleSettings) -> list[str]:
    lines: list[str] = []
    for threshold in rule.thresholds:
        value = settings.threshold(rule.id, threshold.name, threshold.default)
        configured = value != threshold.default
        origin = f"configured; default {threshold.default:g}" if configured else "default"
        lines.append(f"  {threshold.name} = {value:g} ({origin})")
        lines += _wrapped(threshold.description, initial="    ", subsequent="    ")
    if lines:
        lines.append(f"  set with rules.{rule.id}.<name> in the configuration")
    return lines


def _paragraph(text: str) -> list[str]:
    return _wrapped(text, initial="  ", subsequent="  ") if text else []


def _wrapped(text: str, *, initial: str, subsequent: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=initial,
        subsequent_indent=subsequent,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [initial.rstrip()]
