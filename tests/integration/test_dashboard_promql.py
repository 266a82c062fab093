"""Prometheus parses every query of the Grafana dashboards: each panel query and variable
query, with the variables filled in as Grafana would, checked by promtool as a recording
rule (promtool has no other offline PromQL parser)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import require
from tests.dashboard_queries import (
    all_promql,
    committed,
    for_prometheus,
    panels,
    query_variables,
    variable_promql,
)


def recording_rules() -> dict[str, list[dict[str, object]]]:
    groups = []
    for name, board in committed().items():
        prefix = name.replace("-", "_")
        rules = [
            {"record": f"dashboard:{prefix}:query{index}", "expr": for_prometheus(promql)}
            for index, promql in enumerate(all_promql(board))
        ]
        groups.append({"name": name, "rules": rules})
    return {"groups": groups}


def test_prometheus_parses_every_dashboard_query(tmp_path: Path) -> None:
    require("promtool")
    rules = recording_rules()
    assert all(group["rules"] for group in rules["groups"])
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# A small fleet in the shapes the collector exports: subnets and the VNet carry their own
# labels and reach clusters through netaudit_range_cluster_info; pod CIDRs carry their
# cluster's. aks-a and aks-b each have a node subnet, share a pod subnet and the VNet.
def _range(kind: str, mode: str, **labels: str) -> dict[str, str]:
    shared = {"subscription_id": "s-net", "resource_group": "rg-net", "virtual_network": "vnet-1"}
    base = {"subnet": "", "cluster": "", "range": "", **(shared if "cluster" not in labels else {})}
    return {"range_kind": kind, "ipam_mode": mode, **base, **labels}


RANGES = {
    "a-nodes": _range("node_subnet", "node_subnet", subnet="snet-a"),
    "b-nodes": _range("node_subnet", "node_subnet", subnet="snet-b"),
    "pods": _range("pod_subnet", "dynamic", subnet="snet-pods"),
    "vnet": _range("vnet", ""),
    "a-cidr": _range(
        "pod_cidr",
        "overlay",
        subscription_id="s-app",
        resource_group="rg-a",
        virtual_network="",
        cluster="aks-a",
        range="10.244.0.0/16",
    ),
    "b-cidr": _range(
        "pod_cidr",
        "overlay",
        subscription_id="s-app",
        resource_group="rg-b",
        virtual_network="",
        cluster="aks-b",
        range="10.245.0.0/16",
    ),
}
USES = {"aks-a": ("a-nodes", "pods", "vnet"), "aks-b": ("b-nodes", "pods", "vnet")}
JOINED = ("range_kind", "subscription_id", "resource_group", "virtual_network", "subnet", "range")


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def _joins() -> dict[tuple[str, str], dict[str, str]]:
    return {
        (cluster, key): {
            **{label: RANGES[key][label] for label in JOINED},
            "cluster_subscription_id": "s-app",
            "cluster_resource_group": f"rg-{cluster[-1]}",
            "cluster": cluster,
        }
        for cluster, keys in USES.items()
        for key in keys
    }


INPUTS = [
    *(
        {"series": _series(family, labels), "values": f"{value}x10"}
        for labels in RANGES.values()
        for family, value in (
            ("netaudit_range_used_addresses", 100),
            ("netaudit_range_capacity_addresses", 251),
        )
    ),
    *(
        {"series": _series("netaudit_range_cluster_info", j), "values": "1x10"}
        for j in _joins().values()
    ),
]


def _panel_expr(board: str, title: str) -> str:
    panel = next(p for p in panels(committed()[board]) if p["title"] == title)
    return str(panel["targets"][0]["expr"])


def _variable_expr(board: str, name: str) -> str:
    variable = next(v for v in query_variables(committed()[board]) if v["name"] == name)
    return variable_promql(variable["query"])


def _used(*keys: str) -> list[dict[str, object]]:
    return [
        {"labels": _series("netaudit_range_used_addresses", RANGES[key]), "value": 100}
        for key in keys
    ]


def _range_names(cluster: str) -> list[dict[str, object]]:
    name_of = {"node_subnet": "subnet", "pod_subnet": "subnet", "vnet": "virtual_network"}
    samples: list[dict[str, object]] = [
        {
            "labels": _series(
                "netaudit_range_cluster_info", {**join, "name": join[name_of[join["range_kind"]]]}
            ),
            "value": 1,
        }
        for (user, _), join in _joins().items()
        if user == cluster
    ]
    own = next(labels for labels in RANGES.values() if labels["cluster"] == cluster)
    samples.append(
        {
            "labels": _series("netaudit_range_capacity_addresses", {**own, "name": own["range"]}),
            "value": 251,
        }
    )
    return samples


def _promtool_test(tmp_path: Path, expr_tests: list[dict[str, object]]) -> None:
    require("promtool")
    unit = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": INPUTS, "promql_expr_test": expr_tests}],
    }
    path = tmp_path / "dashboard-queries.test.yaml"
    path.write_text(yaml.safe_dump(unit, sort_keys=False))
    tested = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_range_detail_shows_the_chosen_clusters_ranges_and_no_others(tmp_path: Path) -> None:
    used = _panel_expr("netaudit-range", "Used, capacity and required at max scale")
    names = _variable_expr("netaudit-range", "range")
    cases: list[tuple[dict[str, str], str, list[dict[str, object]]]] = [
        ({"cluster": "aks-a"}, used, _used("a-nodes", "pods", "vnet", "a-cidr")),
        ({"cluster": "aks-b", "range": "snet-pods"}, used, _used("pods")),
        ({"cluster": "aks-a", "range": "vnet-1"}, used, _used("vnet")),
        ({"cluster": "aks-a", "range": "10.245.0.0/16"}, used, []),
        (
            {"cluster": "(aks-a|aks-b)", "range": "(snet-a|10.245.0.0/16)"},
            used,
            _used("a-nodes", "b-cidr"),
        ),
        ({"subscription": "s-other"}, used, []),
        ({"cluster": "aks-a"}, names, _range_names("aks-a")),
    ]
    _promtool_test(
        tmp_path,
        [
            {"expr": for_prometheus(expr, chosen), "eval_time": "5m", "exp_samples": expected}
            for chosen, expr, expected in cases
        ],
    )
