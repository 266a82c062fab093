"""Range detail: for the chosen clusters' address ranges, used against capacity and against
what the pools need at their autoscaler maximum plus surge, utilisation, and the forecast.

Ranges come in two shapes (see the collector's range families): subnets and VNets carry
their own subscription, resource group, VNet and subnet, with `cluster` and `range` empty,
and reach their clusters through `netaudit_range_cluster_info`; pod and service CIDRs carry
their cluster's labels and the CIDR as `range`. The `range` variable lists both by name
(subnet, VNet or CIDR) and `chosen()` selects either shape.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import units

from .panels import (
    ANY_IS_BAD,
    DAY_SECONDS,
    RANGE_LEGEND,
    UTILISATION,
    Query,
    graph,
    label_values_variable,
    new_dashboard,
    query_variable,
    ranking,
    single_stat,
    time_to_full,
)

UID = "netaudit-range"
JOIN_LABELS = "range_kind, subscription_id, resource_group, virtual_network, subnet"
CLUSTERS_CHOSEN = 'cluster_subscription_id=~"$subscription", cluster=~"$cluster"'
TREND_WINDOW = "6h"
TREND_HORIZON_SECONDS = 7 * DAY_SECONDS

# The label naming a range of each kind in the `range` variable.
NAME_LABEL = {"node_subnet": "subnet", "pod_subnet": "subnet", "vnet": "virtual_network"}
SUBNET_KINDS = 'range_kind=~"node_subnet|pod_subnet"'
OWN_KINDS = 'range_kind=~"pod_cidr|service_cidr"'


def chosen(metric: str, over: Callable[[str], str] = lambda selector: selector) -> str:
    """PromQL for `metric` of the chosen ranges of the chosen clusters; `over` wraps each
    selector (e.g. in predict_linear) before the join, which keeps only subnets and VNets
    that a chosen cluster uses."""
    subnets = over(f'{metric}{{{SUBNET_KINDS}, subnet=~"$range"}}')
    vnets = over(f'{metric}{{range_kind="vnet", virtual_network=~"$range"}}')
    own = over(
        f'{metric}{{{OWN_KINDS}, subscription_id=~"$subscription", cluster=~"$cluster", '
        'range=~"$range"}'
    )
    clusters = f"netaudit_range_cluster_info{{{CLUSTERS_CHOSEN}}}"
    shared = f"({subnets} or {vnets}) and on ({JOIN_LABELS}) {clusters}"
    return f"({shared}) or {own}"


def range_names() -> str:
    """The variable query: every range of the chosen clusters as one `name` label."""
    shared = [
        f'label_replace(netaudit_range_cluster_info{{range_kind="{kind}", {CLUSTERS_CHOSEN}}}, '
        f'"name", "$1", "{label}", "(.+)")'
        for kind, label in NAME_LABEL.items()
    ]
    own = (
        "label_replace(netaudit_range_capacity_addresses"
        f'{{{OWN_KINDS}, subscription_id=~"$subscription", cluster=~"$cluster"}}, '
        '"name", "$1", "range", "(.+)")'
    )
    return f"query_result({' or '.join([*shared, own])})"


def _range_variable() -> dashboard.QueryVariable:
    return query_variable("range", "Range", range_names()).regex('/name="([^"]+)"/')


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "netaudit / Range detail",
            "Used, capacity and need at max scale of the chosen clusters' node subnets, pod "
            "subnets, VNets, pod CIDRs and service CIDRs, and when each fills.",
        )
        .with_variable(
            label_values_variable(
                "subscription", "Cluster subscription", "netaudit_cluster_info", "subscription_id"
            )
        )
        .with_variable(
            label_values_variable(
                "cluster",
                "Cluster",
                'netaudit_cluster_info{subscription_id=~"$subscription"}',
                "cluster",
            )
        )
        .with_variable(_range_variable())
        .with_row(dashboard.Row("Addresses"))
        .with_panel(
            graph(
                "Used, capacity and required at max scale",
                units.NoUnit,
                Query(chosen("netaudit_range_used_addresses"), f"used {RANGE_LEGEND}"),
                Query(chosen("netaudit_range_capacity_addresses"), f"capacity {RANGE_LEGEND}"),
                Query(chosen("netaudit_range_required_addresses"), f"required {RANGE_LEGEND}"),
                Query(
                    chosen(
                        "netaudit_range_used_addresses",
                        lambda selector: (
                            f"predict_linear({selector}[{TREND_WINDOW}], {TREND_HORIZON_SECONDS})"
                        ),
                    ),
                    f"used in {TREND_HORIZON_SECONDS // DAY_SECONDS} days at the "
                    f"{TREND_WINDOW} trend {RANGE_LEGEND}",
                ),
                description="Capacity is the usable addresses (Azure reserves 5 per subnet); "
                "required is what the pools need at their autoscaler maximum plus upgrade "
                "surge. The trend line is Prometheus's own linear projection, a second "
                "opinion beside the collector's forecast.",
                width=24,
            )
        )
        .with_panel(
            graph(
                "Utilisation",
                units.PercentUnit,
                Query(chosen("netaudit_range_utilization_ratio"), RANGE_LEGEND),
                width=12,
                steps=UTILISATION,
            )
        )
        .with_panel(
            graph(
                "Time to full (forecast)",
                units.Seconds,
                Query(chosen("netaudit_range_exhaustion_seconds"), RANGE_LEGEND),
                description="The collector's forecast of seconds until the range is full: a "
                "robust trend over its usage history. No line while use is flat or falling "
                "or while the history is too short.",
                width=12,
                steps=time_to_full(DAY_SECONDS),
            )
        )
        .with_row(dashboard.Row("Now"))
        .with_panel(
            single_stat(
                "Fullest chosen range",
                units.PercentUnit,
                Query(f"max({chosen('netaudit_range_utilization_ratio')})"),
                steps=UTILISATION,
            )
        )
        .with_panel(
            single_stat(
                "Soonest full",
                units.Seconds,
                Query(f"min({chosen('netaudit_range_exhaustion_seconds')})"),
                steps=time_to_full(DAY_SECONDS),
            )
        )
        .with_panel(
            single_stat(
                "Ranges short at max scale",
                units.NoUnit,
                Query(
                    f"count(({chosen('netaudit_range_required_addresses')}) "
                    f"> ({chosen('netaudit_range_capacity_addresses')})) or vector(0)"
                ),
                description="Ranges whose need at max scale plus surge exceeds their "
                "capacity (CNI-001): the next large scale-out or upgrade fails.",
                steps=ANY_IS_BAD,
                width=12,
            )
        )
        .with_panel(
            ranking(
                "Chosen ranges by utilisation",
                units.PercentUnit,
                Query(chosen("netaudit_range_utilization_ratio")),
                columns={
                    "range_kind": "Kind",
                    "ipam_mode": "IPAM mode",
                    "virtual_network": "VNet",
                    "subnet": "Subnet",
                    "cluster": "Cluster",
                    "range": "CIDR",
                },
                descending=True,
                width=24,
                steps=UTILISATION,
            )
        )
    )
