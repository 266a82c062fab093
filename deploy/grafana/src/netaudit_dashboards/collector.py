"""Collector health: reports ingested and rejected, scans, ARM requests and throttling, and
whether the store can be read."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import units

from .panels import ONE_IS_GOOD, Query, graph, new_dashboard, single_stat

UID = "netaudit-collector"
RATE = "[$__rate_interval]"


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "netaudit / Collector",
            "The collector itself: ingest, scans, Azure Resource Manager reads and the store.",
        )
        .with_row(dashboard.Row("Health"))
        .with_panel(
            single_stat(
                "Store readable",
                units.NoUnit,
                Query("min(netaudit_store_up)"),
                steps=ONE_IS_GOOD,
            )
        )
        .with_panel(
            single_stat(
                "Since the last scan",
                units.Seconds,
                Query("time() - max(netaudit_last_scan_timestamp_seconds)"),
            )
        )
        .with_panel(
            single_stat(
                "Last scan took",
                units.Seconds,
                Query("max(netaudit_scan_duration_seconds)"),
            )
        )
        .with_panel(
            single_stat(
                "ARM requests throttled in the last hour",
                units.PercentUnit,
                Query(
                    "sum(increase(netaudit_arm_throttled_requests_total[1h])) "
                    "/ sum(increase(netaudit_arm_requests_total[1h]))"
                ),
            )
        )
        .with_row(dashboard.Row("Ingest"))
        .with_panel(
            graph(
                "Reports ingested by outcome",
                units.OpsPerSecond,
                Query(
                    f"sum by (outcome) (rate(netaudit_ingest_reports_total{RATE}))",
                    "{{outcome}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Ingest rejections by reason",
                units.OpsPerSecond,
                Query(
                    f"sum by (reason) (rate(netaudit_ingest_rejections_total{RATE}))",
                    "{{reason}}",
                ),
            )
        )
        .with_row(dashboard.Row("Scans and Azure Resource Manager"))
        .with_panel(
            graph(
                "Scans by status",
                units.NoUnit,
                Query("sum by (status) (increase(netaudit_scans_total[1h]))", "{{status}}"),
                description="Scans finished in the hour before each point.",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Scan duration",
                units.Seconds,
                Query("max(netaudit_scan_duration_seconds)", "last scan"),
                width=8,
            )
        )
        .with_panel(
            graph(
                "ARM requests and throttled requests",
                units.RequestsPerSecond,
                Query(f"sum(rate(netaudit_arm_requests_total{RATE}))", "requests"),
                Query(f"sum(rate(netaudit_arm_throttled_requests_total{RATE}))", "throttled (429)"),
                width=8,
            )
        )
    )
