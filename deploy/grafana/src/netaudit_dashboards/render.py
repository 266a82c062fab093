"""Dashboard objects to the JSON files committed under deploy/grafana/: stable output (sorted
keys, two-space indent, trailing newline, panels numbered in order) so a regeneration that
changes nothing changes no byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel


def number_panels(built: Dashboard) -> Dashboard:
    """Give every panel, and every panel inside a collapsed row, a distinct id in reading
    order: Grafana keys repeats, links and the panel editor on it."""
    next_id = 1
    for panel in built.panels or []:
        panel.id_val = next_id
        next_id += 1
        if isinstance(panel, RowPanel):
            for inner in panel.panels:
                inner.id_val = next_id
                next_id += 1
    return built


def to_json(built: Dashboard) -> str:
    return json.dumps(number_panels(built), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def write_all(builders: dict[str, Callable[[], Dashboard]], folder: Path) -> list[Path]:
    """Write each dashboard as `folder/<name>.json`; returns the paths written."""
    written = []
    for name, build in sorted(builders.items()):
        path = folder / f"{name}.json"
        path.write_text(to_json(build()))
        written.append(path)
    return written
