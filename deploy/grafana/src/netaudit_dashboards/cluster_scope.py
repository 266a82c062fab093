"""The subscription and cluster variables of the per-cluster dashboards, and the matcher
that applies them to any series labelled by cluster."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .panels import label_values_variable

CHOSEN = 'subscription_id=~"$subscription", cluster=~"$cluster"'


def with_cluster_variables(board: dashboard.Dashboard) -> dashboard.Dashboard:
    return board.with_variable(
        label_values_variable(
            "subscription", "Subscription", "netaudit_cluster_info", "subscription_id"
        )
    ).with_variable(
        label_values_variable(
            "cluster",
            "Cluster",
            'netaudit_cluster_info{subscription_id=~"$subscription"}',
            "cluster",
        )
    )
