"""The gatherers, one module per evidence source, registered here once each."""

from netaudit.agent.gatherers import (
    agc,
    agic,
    azure_cns_metrics,
    cni,
    coredns,
    externaldns,
    gateway_api,
    ingress,
    ingress_nginx,
    ip_allocation,
    network_policies,
    nodes,
    services,
)
from netaudit.agent.gatherers.gatherer import Gatherer

GATHERERS: tuple[Gatherer, ...] = (
    nodes.GATHERER,
    cni.GATHERER,
    services.GATHERER,
    network_policies.GATHERER,
    coredns.GATHERER,
    gateway_api.GATHERER,
    agc.GATHERER,
    agic.GATHERER,
    ingress.GATHERER,
    ingress_nginx.GATHERER,
    externaldns.GATHERER,
    ip_allocation.GATHERER,
    azure_cns_metrics.GATHERER,
)

__all__ = ["GATHERERS", "Gatherer"]
