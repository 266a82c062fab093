"""The Grafana dashboards under deploy/grafana: the committed JSON is what the SDK modules
build, the SDK reads every file back, every panel has a data source, a unit and a query,
and every series a query reads is one the collector exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel
from netaudit_dashboards import DASHBOARDS
from netaudit_dashboards.render import write_all

from tests.dashboard_queries import (
    DASHBOARD_DIR,
    all_promql,
    committed,
    dashboard_files,
    for_prometheus,
    metric_names,
    outside_regex_matchers,
    query_variables,
    user_variables,
)
from tests.exported_series import exported_series

EXPECTED_DASHBOARDS = {
    "netaudit-fleet",
    "netaudit-range",
    "netaudit-dns",
    "netaudit-gateways",
    "netaudit-collector",
}

BOARDS = committed()


def board_ids() -> list[str]:
    return sorted(BOARDS)


def test_every_dashboard_is_committed() -> None:
    assert set(BOARDS) == EXPECTED_DASHBOARDS == set(DASHBOARDS)


def test_the_committed_json_is_what_the_modules_build(tmp_path: Path) -> None:
    write_all(DASHBOARDS, tmp_path)
    built = {path.name: path.read_text() for path in sorted(tmp_path.glob("*.json"))}
    on_disk = {path.name: path.read_text() for path in dashboard_files()}
    assert built.keys() == on_disk.keys()
    stale = [name for name in built if built[name] != on_disk[name]]
    assert not stale, f"stale dashboards {stale}: run `make dashboards` and commit {DASHBOARD_DIR}"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.stem)
def test_the_json_is_stable(path: Path) -> None:
    text = path.read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


@pytest.mark.parametrize("name", board_ids())
def test_the_sdk_reads_each_dashboard_back_unchanged(name: str) -> None:
    register_default_plugins()
    board = Dashboard.from_json(BOARDS[name])
    assert json.loads(json.dumps(board, cls=JSONEncoder)) == BOARDS[name]
    shown = [panel for panel in board.panels or [] if not isinstance(panel, RowPanel)]
    assert shown
    for panel in shown:
        assert panel.datasource is not None and panel.datasource.uid == "${datasource}", panel.title
        assert panel.field_config is not None and panel.field_config.defaults.unit, panel.title
        assert panel.targets, panel.title
        for target in panel.targets:
            assert isinstance(target, prometheus.Dataquery), panel.title
            assert target.expr.strip(), panel.title


@pytest.mark.parametrize("name", board_ids())
def test_a_datasource_variable_feeds_every_query(name: str) -> None:
    variables = BOARDS[name]["templating"]["list"]
    sources = [var for var in variables if var["type"] == "datasource"]
    assert [(var["name"], var["query"]) for var in sources] == [("datasource", "prometheus")]
    for var in query_variables(BOARDS[name]):
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, var["name"]


@pytest.mark.parametrize("name", board_ids())
def test_panel_ids_are_distinct(name: str) -> None:
    top = BOARDS[name]["panels"]
    ids = [panel["id"] for panel in top]
    ids += [inner["id"] for panel in top if panel["type"] == "row" for inner in panel["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", board_ids())
def test_queries_use_only_defined_variables_and_only_in_regex_matchers(name: str) -> None:
    board: dict[str, Any] = BOARDS[name]
    defined = {var["name"] for var in board["templating"]["list"]}
    for promql in all_promql(board):
        assert user_variables(promql) <= defined, promql
        assert not user_variables(outside_regex_matchers(promql)), promql


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return exported_series(tmp_path_factory.mktemp("exported"))


@pytest.mark.parametrize("name", board_ids())
def test_queries_read_only_series_the_collector_exports(name: str, exported: set[str]) -> None:
    read = {metric for promql in all_promql(BOARDS[name]) for metric in metric_names(promql)}
    assert read, "no metric found: the extraction is broken"
    assert read <= exported, sorted(read - exported)


@pytest.mark.parametrize(
    ("promql", "names"),
    [
        ("netaudit_store_up", {"netaudit_store_up"}),
        ("rate(netaudit_scans_total[$__rate_interval])", {"netaudit_scans_total"}),
        ('sum by (severity) (a{severity="critical", x=~"$x"}) or vector(0)', {"a"}),
        ("a and on (range_kind, subnet) b", {"a", "b"}),
        ("sum(a) without (pod) / ignoring (le) group_left (cluster) b", {"a", "b"}),
        ('label_replace(m{k="v"}, "name", "$1", "range", "(.+)")', {"m"}),
        ("predict_linear(m[6h], 7 * 86400) > bool 1e3", {"m"}),
        ("time() - max(last offset 5m)", {"last"}),
        ("count(time() - seen > 1800) or vector(0)", {"seen"}),
        ("ratio:recorded:rate5m unless other", {"ratio:recorded:rate5m", "other"}),
        ("max_over_time(x[1h:5m])", {"x"}),
    ],
)
def test_metric_names_are_found_in_promql(promql: str, names: set[str]) -> None:
    assert metric_names(promql) == names


@pytest.mark.parametrize(
    ("promql", "filled"),
    [
        ('a{c=~"$cluster"}', 'a{c=~".*"}'),
        ('a{c=~"${cluster}"}[$__rate_interval]', 'a{c=~".*"}[5m]'),
        ('label_replace(a, "n", "$1", "l", "(.+)")', 'label_replace(a, "n", "$1", "l", "(.+)")'),
    ],
)
def test_variables_are_filled_as_grafana_would(promql: str, filled: str) -> None:
    assert for_prometheus(promql) == filled
