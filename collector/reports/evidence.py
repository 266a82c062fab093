"""A finding's evidence for people: durations in days and hours, long values shortened.

The evidence map stays exact for machines (json, csv, sarif); only the text formats read
it through here. A key that ends in its unit (`programmed.seconds`, `p99_seconds`) drops
the unit, which moves into the value (`programmed=32d 14h`, `p99=12 ms`)."""

from __future__ import annotations

from collections.abc import Mapping

MAX_VALUE_CHARS = 60
"""Longest value shown (characters); the report formats for machines keep it whole."""
_SECONDS_SUFFIXES = (".seconds", "_seconds")


def duration_text(seconds: float) -> str:
    """The two largest units that matter: `32d 14h`, `5h 3m`, `4m 10s`, `42 s`, `12 ms`."""
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.3g} s"


def _as_seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def shortened(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def readable_item(key: str, value: str) -> str:
    """One `key=value` of the evidence as a person reads it."""
    for suffix in _SECONDS_SUFFIXES:
        seconds = _as_seconds(value) if key.endswith(suffix) else None
        if seconds is not None:
            return f"{key.removesuffix(suffix)}={duration_text(seconds)}"
    return f"{key}={shortened(value)}"


def readable_evidence(evidence: Mapping[str, str]) -> list[str]:
    """Every item, in key order."""
    return [readable_item(key, evidence[key]) for key in sorted(evidence)]
