"""What every netaudit dashboard shares: the data source variable, template variables read
from the collector's series, and panels that always carry the data source, a unit and PromQL.

Each panel factory takes the unit as a required argument so no panel can go without one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    FieldTextAlignment,
    TableColorTextCellOptions,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsConfig,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# Every panel and query variable reads the Prometheus chosen in the `datasource` variable,
# so one JSON file works in any Grafana whatever its data source is called.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAG = "netaudit"
HEIGHT = 8
DAY_SECONDS = 86400
# Names an address range in a legend whatever its shape: a subnet or VNet by VNet/subnet,
# a pod or service CIDR by cluster and CIDR (the labels a shape lacks are empty).
RANGE_LEGEND = "{{range_kind}} {{virtual_network}}/{{subnet}}{{cluster}} {{range}}"


# Threshold steps: the base colour, then (from this value up, colour).
Steps = tuple[str, tuple[tuple[float, str], ...]]
# The alert rules' levels (deploy/prometheus): utilisation warns at 80% and is critical at
# 90%; a forecast warns under 30 days and is critical under 7.
UTILISATION: Steps = ("green", ((0.8, "orange"), (0.9, "red")))
ANY_IS_BAD: Steps = ("green", ((1, "red"),))
ANY_IS_A_WARNING: Steps = ("green", ((1, "orange"),))
ONE_IS_GOOD: Steps = ("red", ((1, "green"),))


def time_to_full(unit_per_day: float) -> Steps:
    """Forecast levels in the panel's unit: 1 for days, 86400 for seconds."""
    return ("red", ((7 * unit_per_day, "orange"), (30 * unit_per_day, "green")))


def _thresholds(steps: Steps) -> dashboard.ThresholdsConfig:
    base, levels = steps
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps(
            [Threshold(value=None, color=base)]
            + [Threshold(value=value, color=color) for value, color in levels]
        )
    )


@dataclass(frozen=True)
class Query:
    """One PromQL target; `legend` is Grafana's legend format (`{{label}}`)."""

    expr: str
    legend: str = ""


def new_dashboard(uid: str, title: str, description: str) -> dashboard.Dashboard:
    """A dashboard with the data source variable and links to its sibling dashboards."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(
            dashboard.DashboardLink("netaudit dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )


def query_variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    """A multi-valued variable over a label's values; "All" is every listed value, never `.*`,
    so a variable narrowed by another one stays narrowed when All is chosen."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
    )


def label_values_variable(
    name: str, label: str, series: str, of_label: str
) -> dashboard.QueryVariable:
    return query_variable(name, label, f"label_values({series}, {of_label})")


class _Panel(Protocol):
    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: DataSourceRef) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def height(self, h: int) -> Self: ...
    def span(self, w: int) -> Self: ...
    def with_target(self, target: Builder[Dataquery]) -> Self: ...
    def thresholds(self, thresholds: Builder[ThresholdsConfig]) -> Self: ...


PanelT = TypeVar("PanelT", bound=_Panel)


def _filled(
    panel: PanelT,
    title: str,
    unit: str,
    targets: list[prometheus.Dataquery],
    description: str,
    width: int,
    steps: Steps | None,
) -> PanelT:
    if steps is not None:
        panel = panel.thresholds(_thresholds(steps))
    panel = (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(HEIGHT)
        .span(width)
    )
    for ref_id, target in zip(string.ascii_uppercase, targets, strict=False):
        panel = panel.with_target(target.ref_id(ref_id))
    return panel


def _over_time(query: Query) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(query.expr).legend_format(query.legend or "__auto").range()


def _now_as_table(query: Query) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(query.expr).instant().format(PromQueryFormat.TABLE)


def _now(query: Query) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(query.expr).legend_format(query.legend or "__auto").instant()


def graph(
    title: str,
    unit: str,
    *queries: Query,
    description: str = "",
    width: int = 12,
    steps: Steps | None = None,
) -> timeseries.Panel:
    """Series over the dashboard's time range."""
    targets = [_over_time(query) for query in queries]
    panel = timeseries.Panel().line_width(1).fill_opacity(10)
    return _filled(panel, title, unit, targets, description, width, steps)


def single_stat(
    title: str,
    unit: str,
    query: Query,
    *,
    description: str = "",
    width: int = 6,
    steps: Steps | None = None,
) -> stat.Panel:
    """One number now (the last value), coloured by its thresholds."""
    panel = (
        stat.Panel()
        .graph_mode(BigValueGraphMode.AREA)
        .color_mode(BigValueColorMode.VALUE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    )
    return _filled(panel, title, unit, [_over_time(query)], description, width, steps)


def bars(
    title: str, unit: str, *queries: Query, description: str = "", width: int = 12
) -> bargauge.Panel:
    """One bar per series, valued now: counts split by a label."""
    panel = bargauge.Panel().reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    targets = [_now(query) for query in queries]
    return _filled(panel, title, unit, targets, description, width, None)


def ranking(
    title: str,
    unit: str,
    query: Query,
    *,
    columns: dict[str, str],
    descending: bool,
    description: str = "",
    width: int = 12,
    steps: Steps | None = None,
) -> table.Panel:
    """A table of series now, one row each, sorted by value; `columns` maps the labels to show
    (in order) to their headers, and the value column is called "Value"."""
    shown = [*columns, "Value"]
    organize = DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {"Time": True, "__name__": True},
            "includeByName": dict.fromkeys(shown, True),
            "indexByName": {name: index for index, name in enumerate(shown)},
            "renameByName": columns,
        },
    )
    order = common.TableSortByFieldState().display_name("Value").desc(descending)
    panel = (
        table.Panel()
        .with_transformation(organize)
        .sort_by([order])
        # explicit defaults: the SDK fills them in when it reads the JSON back, and the
        # round-trip test wants the committed file unchanged by a read
        .align(FieldTextAlignment.AUTO)
        .inspect(False)
    )
    if steps is not None:
        panel = panel.cell_options(TableColorTextCellOptions())
    return _filled(panel, title, unit, [_now_as_table(query)], description, width, steps)
