"""Gateways: Gateway API Gateways by programmed state (true, false, unknown) per cluster."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import units

from .cluster_scope import CHOSEN, with_cluster_variables
from .panels import ANY_IS_A_WARNING, Query, bars, graph, new_dashboard, ranking, single_stat

UID = "netaudit-gateways"
NOT_PROGRAMMED = f'{CHOSEN}, programmed!="true"'


def build() -> dashboard.Dashboard:
    board = new_dashboard(
        UID,
        "netaudit / Gateways",
        "Gateway API Gateways in the chosen clusters, by whether their Programmed condition "
        "is true.",
    )
    return (
        with_cluster_variables(board)
        .with_row(dashboard.Row("Gateways"))
        .with_panel(
            single_stat(
                "Gateways",
                units.NoUnit,
                Query(f"sum(netaudit_gateways{{{CHOSEN}}}) or vector(0)"),
            )
        )
        .with_panel(
            single_stat(
                "Gateways not programmed",
                units.NoUnit,
                Query(f"sum(netaudit_gateways{{{NOT_PROGRAMMED}}}) or vector(0)"),
                description="Programmed false or unknown: traffic may not reach the routes "
                "attached to them.",
                steps=ANY_IS_A_WARNING,
            )
        )
        .with_panel(
            bars(
                "Gateways by programmed state",
                units.NoUnit,
                Query(
                    f"sum by (programmed) (netaudit_gateways{{{CHOSEN}}})",
                    "programmed={{programmed}}",
                ),
            )
        )
        .with_panel(
            ranking(
                "Clusters with Gateways not programmed",
                units.NoUnit,
                Query(
                    "sum by (subscription_id, resource_group, cluster, programmed) "
                    f"(netaudit_gateways{{{NOT_PROGRAMMED}}}) > 0"
                ),
                columns={
                    "cluster": "Cluster",
                    "resource_group": "Resource group",
                    "subscription_id": "Subscription",
                    "programmed": "Programmed",
                },
                descending=True,
                width=24,
            )
        )
        .with_panel(
            graph(
                "Gateways by programmed state over time",
                units.NoUnit,
                Query(
                    f"sum by (cluster, programmed) (netaudit_gateways{{{CHOSEN}}})",
                    "{{cluster}} programmed={{programmed}}",
                ),
                width=24,
            )
        )
    )
