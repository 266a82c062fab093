"""`netaudit ip`: every range of the fleet (or one cluster) with its capacity, use, need at
max scale and forecast, sorted by days to full, then utilisation; as a table, JSON or CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from netaudit.collector.analysis.forecast import Forecast
from netaudit.collector.analysis.range_capacity import GrowthPlan, RangeCapacity
from netaudit.collector.reports.table import short_resource


@dataclass(frozen=True)
class RangeRow:
    cluster: str
    capacity: RangeCapacity
    forecast: Forecast | None

    @property
    def sort_key(self) -> tuple[float, float, str, str]:
        days = self.forecast.days_to_full if self.forecast is not None else float("inf")
        return (days, -(self.capacity.utilisation or 0.0), self.cluster, self.capacity.range_id)


COLUMNS = (
    "cluster",
    "range_kind",
    "range",
    "ipam_mode",
    "unit",
    "capacity",
    "used",
    "utilisation",
    "required",
    "headroom",
    "days_to_full",
)


def row_values(row: RangeRow) -> dict[str, object]:
    capacity = row.capacity
    utilisation = capacity.utilisation
    return {
        "cluster": row.cluster,
        "range_kind": str(capacity.kind),
        "range": capacity.range_id,
        "ipam_mode": capacity.ipam_mode,
        "unit": str(capacity.unit),
        "capacity": capacity.capacity,
        "used": capacity.used,
        "utilisation": None if utilisation is None else round(utilisation, 3),
        "required": capacity.required,
        "headroom": capacity.headroom,
        "days_to_full": None if row.forecast is None else round(row.forecast.days_to_full, 1),
    }


def sorted_rows(rows: Sequence[RangeRow]) -> list[RangeRow]:
    return sorted(rows, key=lambda row: row.sort_key)


def render_json(rows: Sequence[RangeRow]) -> str:
    return json.dumps({"ranges": [row_values(r) for r in sorted_rows(rows)]}, indent=2)


def render_csv(rows: Sequence[RangeRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted_rows(rows):
        writer.writerow({k: "" if v is None else v for k, v in row_values(row).items()})
    return out.getvalue()


def render_table(rows: Sequence[RangeRow]) -> str:
    if not rows:
        return "no ranges: refresh the inventory first (netaudit inventory refresh)"
    headers = ("CLUSTER", "KIND", "RANGE", "USED", "CAPACITY", "UTIL", "AT MAX", "DAYS TO FULL")
    lines = [headers]
    for row in sorted_rows(rows):
        capacity = row.capacity
        unit = " nodes" if capacity.unit == "nodes" else ""
        lines.append(
            (
                row.cluster,
                str(capacity.kind),
                short_resource(capacity.range_id),
                "?" if capacity.used is None else str(capacity.used),
                f"{capacity.capacity}{unit}",
                "-" if capacity.utilisation is None else f"{capacity.utilisation:.0%}",
                "?" if capacity.required is None else str(capacity.required),
                "-" if row.forecast is None else f"{row.forecast.days_to_full:.1f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def render_plan(cluster: str, pool: str, plans: Sequence[GrowthPlan]) -> str:
    """Whether the pool can grow as asked, range by range, with the arithmetic."""
    if not plans:
        return f"{cluster}: pool {pool} uses no range that ARM returned (AKS-managed VNet?)"
    lines = []
    for plan in plans:
        verdict = "fits" if plan.fits else "does NOT fit"
        line = (
            f"{cluster} {plan.kind} {short_resource(plan.range_id)}: {verdict}: {plan.arithmetic()}"
        )
        if not plan.fits:
            if plan.smallest_prefix is None:
                line += "; no range of this kind can hold it"
            else:
                line += f"; the smallest that fits is a /{plan.smallest_prefix}"
        lines.append(line)
    return "\n".join(lines)
