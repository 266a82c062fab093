"""Fleet overview: which network models the clusters run, open findings by severity and rule,
and the address ranges closest to full, now and by forecast."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import units

from .panels import (
    ANY_IS_A_WARNING,
    ANY_IS_BAD,
    DAY_SECONDS,
    RANGE_LEGEND,
    UTILISATION,
    Query,
    bars,
    graph,
    label_values_variable,
    new_dashboard,
    ranking,
    single_stat,
    time_to_full,
)

UID = "netaudit-fleet"
IN_SUBSCRIPTION = 'subscription_id=~"$subscription"'
STALE_AFTER_SECONDS = 1800  # the agent-report-stale alert's threshold
TOP = 10

RANGE_COLUMNS = {
    "range_kind": "Kind",
    "ipam_mode": "IPAM mode",
    "subscription_id": "Subscription",
    "resource_group": "Resource group",
    "virtual_network": "VNet",
    "subnet": "Subnet",
    "cluster": "Cluster",
    "range": "CIDR",
}


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "netaudit / Fleet overview",
            "AKS fleet networking at a glance: network models, open findings, "
            "address ranges closest to full.",
        )
        .with_variable(
            label_values_variable(
                "subscription", "Subscription", "netaudit_cluster_info", "subscription_id"
            )
        )
        .with_row(dashboard.Row("Clusters"))
        .with_panel(
            single_stat(
                "Clusters",
                units.NoUnit,
                Query(f"count(netaudit_cluster_info{{{IN_SUBSCRIPTION}}})"),
            )
        )
        .with_panel(
            single_stat(
                "Agents silent for 30 minutes",
                units.NoUnit,
                Query(
                    "count(time() - netaudit_agent_last_report_timestamp_seconds"
                    f"{{{IN_SUBSCRIPTION}}} > {STALE_AFTER_SECONDS}) or vector(0)"
                ),
                description="Clusters whose agent has not reported for 30 minutes: the rules "
                "reading their evidence come out not assessed.",
                steps=ANY_IS_A_WARNING,
            )
        )
        .with_panel(
            single_stat(
                "Critical findings open",
                units.NoUnit,
                Query(
                    "sum(netaudit_cluster_open_findings"
                    f'{{{IN_SUBSCRIPTION}, severity="critical"}}) or vector(0)'
                ),
                steps=ANY_IS_BAD,
            )
        )
        .with_panel(
            single_stat(
                "Ranges 90% used or more",
                units.NoUnit,
                Query(
                    f"count(netaudit_range_utilization_ratio{{{IN_SUBSCRIPTION}}} >= 0.9) "
                    "or vector(0)"
                ),
                steps=ANY_IS_BAD,
            )
        )
        .with_panel(
            bars(
                "Clusters by network plugin and mode",
                units.NoUnit,
                Query(
                    "count by (network_plugin, network_plugin_mode) "
                    f"(netaudit_cluster_info{{{IN_SUBSCRIPTION}}})",
                    "{{network_plugin}} {{network_plugin_mode}}",
                ),
            )
        )
        .with_panel(
            bars(
                "Clusters by network policy and dataplane",
                units.NoUnit,
                Query(
                    "count by (network_policy, network_dataplane) "
                    f"(netaudit_cluster_info{{{IN_SUBSCRIPTION}}})",
                    "{{network_policy}} / {{network_dataplane}}",
                ),
            )
        )
        .with_row(dashboard.Row("Findings"))
        .with_panel(
            bars(
                "Open findings by severity",
                units.NoUnit,
                Query(
                    f"sum by (severity) (netaudit_cluster_open_findings{{{IN_SUBSCRIPTION}}})",
                    "{{severity}}",
                ),
                width=8,
            )
        )
        .with_panel(
            graph(
                "Open findings over time",
                units.NoUnit,
                Query(
                    f"sum by (severity) (netaudit_cluster_open_findings{{{IN_SUBSCRIPTION}}})",
                    "{{severity}}",
                ),
                width=16,
            )
        )
        .with_panel(
            ranking(
                "Rules with the most open findings",
                units.NoUnit,
                Query(f"topk({TOP}, netaudit_open_findings > 0)"),
                columns={"rule_id": "Rule", "severity": "Severity"},
                descending=True,
                description="Fleet-wide, whatever subscription is chosen.",
            )
        )
        .with_panel(
            bars(
                "Rule verdicts in the last scan",
                units.NoUnit,
                Query("sum by (outcome) (netaudit_rule_evaluations)", "{{outcome}}"),
                description="findings, passed, not assessed or error, summed over rules "
                "(fleet-wide).",
            )
        )
        .with_row(dashboard.Row("Address ranges"))
        .with_panel(
            ranking(
                "Ranges by utilisation",
                units.PercentUnit,
                Query(f"topk({TOP}, netaudit_range_utilization_ratio{{{IN_SUBSCRIPTION}}})"),
                columns=RANGE_COLUMNS,
                descending=True,
                description="Used over usable addresses. Subnets and VNets carry their own "
                "subscription; pod and service CIDRs their cluster's.",
                steps=UTILISATION,
            )
        )
        .with_panel(
            ranking(
                "Ranges by days to full",
                units.Days,
                Query(
                    f"bottomk({TOP}, netaudit_range_exhaustion_seconds{{{IN_SUBSCRIPTION}}})"
                    f" / {DAY_SECONDS}"
                ),
                columns=RANGE_COLUMNS,
                descending=False,
                description="The collector's forecast (a robust trend of used addresses); "
                "ranges with flat or falling use, or too little history, have none.",
                steps=time_to_full(1),
            )
        )
        .with_panel(
            graph(
                "Utilisation of the fullest ranges",
                units.PercentUnit,
                Query(
                    f"topk({TOP}, netaudit_range_utilization_ratio{{{IN_SUBSCRIPTION}}})",
                    RANGE_LEGEND,
                ),
                width=24,
                steps=UTILISATION,
            )
        )
    )
