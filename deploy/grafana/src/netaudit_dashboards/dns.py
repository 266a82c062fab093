"""DNS: the agents' active DNS probes (latency per probe, failures) and CoreDNS replicas."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import units

from .cluster_scope import CHOSEN, with_cluster_variables
from .panels import (
    ANY_IS_BAD,
    Query,
    graph,
    label_values_variable,
    new_dashboard,
    ranking,
    single_stat,
)

UID = "netaudit-dns"
PROBES_CHOSEN = f'{CHOSEN}, probe=~"$probe"'
# AKS runs two CoreDNS replicas at least (the coredns-autoscaler's minimum).
MIN_COREDNS_REPLICAS = 2
TOP = 10


def build() -> dashboard.Dashboard:
    board = new_dashboard(
        UID,
        "netaudit / DNS",
        "In-cluster DNS as the agents see it: probe latency and failures (SERVFAIL, NXDOMAIN, "
        "timeouts) and CoreDNS ready replicas.",
    )
    return (
        with_cluster_variables(board)
        .with_variable(
            label_values_variable(
                "probe",
                "Probe",
                f"netaudit_dns_probe_duration_seconds{{{CHOSEN}}}",
                "probe",
            )
        )
        .with_row(dashboard.Row("Probes"))
        .with_panel(
            single_stat(
                "Clusters with failing probes",
                units.NoUnit,
                Query(f"count(netaudit_dns_probe_failures{{{CHOSEN}}} > 0) or vector(0)"),
                steps=ANY_IS_BAD,
            )
        )
        .with_panel(
            single_stat(
                "Slowest probe",
                units.Seconds,
                Query(f"max(netaudit_dns_probe_duration_seconds{{{PROBES_CHOSEN}}})"),
            )
        )
        .with_panel(
            single_stat(
                "Clusters with CoreDNS under-replicated",
                units.NoUnit,
                Query(
                    f"count(netaudit_coredns_ready_replicas{{{CHOSEN}}} "
                    f"< {MIN_COREDNS_REPLICAS}) or vector(0)"
                ),
                description=f"Fewer than {MIN_COREDNS_REPLICAS} CoreDNS replicas ready.",
                steps=ANY_IS_BAD,
                width=12,
            )
        )
        .with_panel(
            graph(
                "DNS probe latency",
                units.Seconds,
                Query(
                    f"netaudit_dns_probe_duration_seconds{{{PROBES_CHOSEN}}}",
                    "{{cluster}} {{probe}}",
                ),
                description="How long each probe of the latest agent report took.",
            )
        )
        .with_panel(
            graph(
                "DNS probe failures",
                units.NoUnit,
                Query(f"netaudit_dns_probe_failures{{{CHOSEN}}}", "{{cluster}}"),
                description="Failing probes in each cluster's latest agent report.",
            )
        )
        .with_panel(
            ranking(
                "Slowest probes now",
                units.Seconds,
                Query(f"topk({TOP}, netaudit_dns_probe_duration_seconds{{{PROBES_CHOSEN}}})"),
                columns={
                    "cluster": "Cluster",
                    "resource_group": "Resource group",
                    "probe": "Probe",
                },
                descending=True,
            )
        )
        .with_row(dashboard.Row("CoreDNS"))
        .with_panel(
            graph(
                "CoreDNS ready replicas",
                units.NoUnit,
                Query(f"netaudit_coredns_ready_replicas{{{CHOSEN}}}", "{{cluster}}"),
            )
        )
        .with_panel(
            ranking(
                "Clusters with the fewest CoreDNS replicas ready",
                units.NoUnit,
                Query(f"bottomk({TOP}, netaudit_coredns_ready_replicas{{{CHOSEN}}})"),
                columns={"cluster": "Cluster", "resource_group": "Resource group"},
                descending=False,
            )
        )
    )
