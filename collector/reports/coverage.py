"""What a scan could and could not judge: outcome totals, and why rules were not assessed.

Unknown is never compliant, so the terminal says how much of the catalogue was
actually judged and names what kept the rest from being judged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

OUTCOME_ORDER = ("findings", "passed", "not_assessed", "error")
PENDING_SUFFIX = "is not gathered yet"
SHOWN_CLUSTERS = 3


class OutcomeRow(Protocol):
    @property
    def cluster_key(self) -> str: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str: ...


def render_totals(totals: Mapping[tuple[str, str], int]) -> str:
    """``evaluations: 12 findings, 230 passed, 60 not assessed, 0 error`` (rule x cluster)."""
    by_outcome: dict[str, int] = defaultdict(int)
    for (_, outcome), count in totals.items():
        by_outcome[outcome] += count
    parts = [f"{by_outcome.get(o, 0)} {o.replace('_', ' ')}" for o in OUTCOME_ORDER]
    return f"rule evaluations: {', '.join(parts)}"


def render_not_assessed(rows: Iterable[OutcomeRow], cluster_names: Mapping[str, str]) -> str:
    """One line per (rule, reason) not assessed or in error, naming a few clusters; the
    rules waiting for evidence that is not gathered yet are summed up in one line."""
    pending: set[str] = set()
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row.outcome not in ("not_assessed", "error"):
            continue
        if row.outcome == "not_assessed" and row.reason.endswith(PENDING_SUFFIX):
            pending.add(row.rule_id)
            continue
        name = cluster_names.get(row.cluster_key, row.cluster_key)
        grouped[(row.outcome, row.rule_id, row.reason)].append(name)
    lines = [
        f"{'ERROR' if outcome == 'error' else 'not assessed'} {rule_id} on "
        f"{_clusters(names)}: {reason}"
        for (outcome, rule_id, reason), names in sorted(grouped.items())
    ]
    if pending:
        lines.append(
            f"not assessed until their evidence is gathered: {len(pending)} rules "
            f"({', '.join(sorted(pending))})"
        )
    return "\n".join(lines)


def _clusters(names: Sequence[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:SHOWN_CLUSTERS])
    more = len(ordered) - SHOWN_CLUSTERS
    return f"{shown} and {more} more" if more > 0 else shown
