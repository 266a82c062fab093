"""Waivers: findings a team has accepted, each until a date.

A waivers file is YAML (``--waivers FILE`` or ``reports.waivers_file``)::

    waivers:
      - rule: CNI-002                 # a rule id, or a glob (NPL-*)
        cluster: aks-cni-*            # glob on the cluster's name or ARM id
        resource: "*/snet-cni"        # glob on the resource's ARM id or its short name
        reason: snet-cni is replaced by snet-cni-2 in the Q1 migration
        owner: team-payments@example.com
        expires: 2027-03-31           # the last day it applies (UTC)

``rule``, ``reason``, ``owner`` and ``expires`` are required, with ``cluster`` or
``resource`` or both: a waiver accepts findings, it does not mute a rule. Globs
are case-insensitive. A finding several waivers cover takes the first one in
effect, in file order. After its expiry date a waiver stops hiding its findings
and they say so. Pure: the caller reads the file and gives today's date.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from netaudit.collector.errors import UsageError
from netaudit.collector.reports.model import (
    EXPIRED_WAIVER,
    WAIVED,
    Report,
    ReportFinding,
)
from netaudit.collector.reports.table import short_resource

KEYS = ("rule", "cluster", "resource", "reason", "owner", "expires")
_REQUIRED_TEXT = ("reason", "owner")
_GLOB_CHARS = frozenset("*?[")


class WaiverFileError(UsageError):
    """The waivers file cannot be read or one of its entries is malformed (exit 2)."""


@dataclass(frozen=True)
class Waiver:
    """One entry of a waivers file; ``entry`` is its 1-based position there."""

    entry: int
    rule: str
    cluster: str
    resource: str
    reason: str
    owner: str
    expires: date

    def covers(self, finding: ReportFinding) -> bool:
        """The finding's rule matches, and its cluster and resource where they are given."""
        if not _glob(finding.rule, self.rule):
            return False
        if self.cluster and not any(
            _glob(name, self.cluster) for name in (finding.cluster, finding.cluster_id)
        ):
            return False
        return not self.resource or any(
            _glob(name, self.resource)
            for name in (finding.resource, short_resource(finding.resource))
        )

    def expired(self, today: date) -> bool:
        return today > self.expires

    def describe(self) -> str:
        """``waiver 2 (rule CNI-002, cluster aks-*, owner team-a)``: how warnings name it."""
        scope = [f"rule {self.rule}"]
        scope += [f"cluster {self.cluster}"] if self.cluster else []
        scope += [f"resource {self.resource}"] if self.resource else []
        return f"waiver {self.entry} ({', '.join(scope)}, owner {self.owner})"

    def document(self) -> dict[str, Any]:
        """The entry as the JSON report's summary lists it."""
        fields = dataclasses.asdict(self)
        fields["expires"] = self.expires.isoformat()
        return fields


def _glob(value: str, pattern: str) -> bool:
    return fnmatchcase(value.lower(), pattern.lower())


# --- reading the file ---------------------------------------------------------------------


def load_waivers(path: Path, rule_ids: Collection[str]) -> tuple[Waiver, ...]:
    """The waivers of ``path``; WaiverFileError (one line) if it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverFileError(f"waivers file {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise WaiverFileError(f"waivers file {path}{where}: {problem}") from exc
    return parse_waivers(document, rule_ids, str(path))


def parse_waivers(document: object, rule_ids: Collection[str], source: str) -> tuple[Waiver, ...]:
    """Waivers from a loaded YAML document: ``{waivers: [...]}``, a bare list, or nothing.

    Every entry is checked; the error names the first bad entry and counts the others."""
    entries = _entries(document, source)
    waivers: list[Waiver] = []
    problems: list[str] = []
    for number, entry in enumerate(entries, start=1):
        try:
            waivers.append(_waiver(number, entry, rule_ids))
        except ValueError as exc:
            problems.append(f"{_entry_name(number, entry)}: {exc}")
    if problems:
        more = f" (and {len(problems) - 1} more bad entries)" if len(problems) > 1 else ""
        raise WaiverFileError(f"waivers file {source}: {problems[0]}{more}")
    return tuple(waivers)


def _entries(document: object, source: str) -> list[object]:
    if document is None:
        return []
    if isinstance(document, dict):
        unknown = sorted(str(key) for key in document if key != "waivers")
        if unknown:
            raise WaiverFileError(
                f"waivers file {source}: unknown top-level key {unknown[0]!r}; "
                "the file holds `waivers:`, a list of entries"
            )
        document = document.get("waivers") or []
    if not isinstance(document, list):
        raise WaiverFileError(
            f"waivers file {source}: expected `waivers:` with a list of entries, "
            f"found {type(document).__name__}"
        )
    return document


def _entry_name(number: int, entry: object) -> str:
    rule = entry.get("rule") if isinstance(entry, dict) else None
    return f"entry {number}" + (f" (rule {rule})" if isinstance(rule, str) and rule else "")


def _waiver(number: int, entry: object, rule_ids: Collection[str]) -> Waiver:
    if not isinstance(entry, dict):
        raise ValueError(f"expected a mapping with keys {', '.join(KEYS)}")
    for key in entry:
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}{_nearest(str(key), KEYS)}")
    rule = _rule(_text(entry, "rule", required=True), rule_ids)
    cluster = _text(entry, "cluster")
    resource = _text(entry, "resource")
    if not cluster and not resource:
        raise ValueError(
            "give cluster or resource (or both): a waiver accepts findings, it does not "
            "mute a rule (to turn a rule off, set rules.<ID>.enabled: false)"
        )
    reason, owner = (_text(entry, key, required=True) for key in _REQUIRED_TEXT)
    return Waiver(number, rule, cluster, resource, reason, owner, _expires(entry))


def _text(entry: dict[Any, Any], key: str, *, required: bool = False) -> str:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key} is missing")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"{key} must be text, not {type(value).__name__}")
    return str(value).strip()


def _rule(pattern: str, rule_ids: Collection[str]) -> str:
    pattern = pattern.upper()
    if _GLOB_CHARS & set(pattern):
        if not any(fnmatchcase(rule_id, pattern) for rule_id in rule_ids):
            raise ValueError(f"rule {pattern} matches no rule id")
    elif pattern not in rule_ids:
        raise ValueError(f"rule {pattern} is not a rule id{_nearest(pattern, rule_ids)}")
    return pattern


def _expires(entry: dict[Any, Any]) -> date:
    value = entry.get("expires")
    if value is None or value == "":
        raise ValueError("expires is missing: give the last day it applies, YYYY-MM-DD")
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"expires {value!r} is not a date (YYYY-MM-DD)") from None


def _nearest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean {match[0]}?" if match else ""


# --- applying them --------------------------------------------------------------------------


def apply_waivers(report: Report, waivers: Sequence[Waiver], today: date) -> Report:
    """The report with each covered finding waived (or marked as under an expired waiver)
    and the waivers that covered no finding listed as unmatched."""
    used: set[int] = set()
    findings = []
    for finding in report.findings:
        covering = [w for w in waivers if w.covers(finding)]
        used.update(w.entry for w in covering)
        findings.append(_waived(finding, covering, today))
    unmatched = tuple(w for w in waivers if w.entry not in used)
    return dataclasses.replace(report, findings=tuple(findings), unmatched_waivers=unmatched)


def _waived(finding: ReportFinding, covering: list[Waiver], today: date) -> ReportFinding:
    if not covering:
        return finding
    in_effect = [w for w in covering if not w.expired(today)]
    if in_effect:
        return dataclasses.replace(finding, status=WAIVED, waiver=in_effect[0])
    return dataclasses.replace(finding, status=EXPIRED_WAIVER, waiver=covering[0])


def waiver_warnings(report: Report) -> list[str]:
    """One line per waiver that covered nothing and per expired waiver still matching."""
    expired: dict[int, tuple[Waiver, int]] = {}
    for finding in report.findings:
        if finding.status == EXPIRED_WAIVER and finding.waiver is not None:
            waiver, count = expired.get(finding.waiver.entry, (finding.waiver, 0))
            expired[waiver.entry] = (waiver, count + 1)
    lines = [
        f"{waiver.describe()} expired on {waiver.expires.isoformat()}: its {count} "
        "finding(s) are reported again; renew it or fix them"
        for waiver, count in (expired[entry] for entry in sorted(expired))
    ]
    lines += [
        f"{waiver.describe()} matched no finding; remove it or correct its rule and globs"
        for waiver in report.unmatched_waivers
    ]
    return lines
