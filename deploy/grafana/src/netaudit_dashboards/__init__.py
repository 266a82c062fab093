"""netaudit's Grafana dashboards as code (grafana-foundation-sdk), one module per dashboard.

`make dashboards` writes each to deploy/grafana/<name>.json; a test fails when the committed
JSON differs from what these modules build. A package of its own (run with
deploy/grafana/src on the path) rather than part of `netaudit`: the SDK is a development
dependency, and module names such as `dns` must not shadow dnspython.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import collector, dns, fleet, gateways, range_detail

DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    fleet.UID: lambda: fleet.build().build(),
    range_detail.UID: lambda: range_detail.build().build(),
    dns.UID: lambda: dns.build().build(),
    gateways.UID: lambda: gateways.build().build(),
    collector.UID: lambda: collector.build().build(),
}
