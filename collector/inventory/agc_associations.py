"""The subnets Application Gateway for Containers is associated with for a cluster (AGC-002).

Two deployments, two sources: the ALB controller manages the AGC resource from an
ApplicationLoadBalancer object whose ``spec.associations`` name the subnets (the agent
reports them), or the user brings their own traffic controller and names it in a Gateway's
``alb.networking.azure.io/alb-id`` annotation; its ``associations`` are read from ARM.
"""

from __future__ import annotations

from netaudit.collector.inventory import convert
from netaudit.collector.inventory.raw_requests import SendsRequests, list_json
from netaudit.collector.inventory.references import unique_ids
from netaudit.v1 import inventory_pb2, report_pb2

API_VERSION = "2025-01-01"
ALB_ID = "alb.networking.azure.io/alb-id"
TRAFFIC_CONTROLLER_TYPE = "/providers/microsoft.servicenetworking/trafficcontrollers/"


def from_load_balancers(report: report_pb2.Report | None) -> list[inventory_pb2.AgcAssociation]:
    """The subnet associations of the ApplicationLoadBalancer objects the agent reported."""
    if report is None:
        return []
    return [
        inventory_pb2.AgcAssociation(
            source=f"ApplicationLoadBalancer {alb.namespace}/{alb.name}",
            association_type="subnets",
            subnet_id=subnet_id,
        )
        for alb in report.agc.application_load_balancers
        for subnet_id in alb.associations
        if subnet_id
    ]


def traffic_controllers(report: report_pb2.Report | None) -> list[str]:
    """The traffic controller ids the cluster's Gateways name by alb-id (bring your own)."""
    if report is None:
        return []
    ids = (g.annotations.get(ALB_ID, "").strip() for g in report.gateway_api.gateways)
    return unique_ids(i for i in ids if TRAFFIC_CONTROLLER_TYPE in i.lower())


def listing_id(traffic_controller_id: str) -> str:
    return f"{traffic_controller_id.rstrip('/')}/associations"


def read_associations(
    client: SendsRequests, traffic_controller_id: str
) -> list[inventory_pb2.AgcAssociation]:
    items = list_json(client, listing_id(traffic_controller_id), {"api-version": API_VERSION})
    return [convert.agc_association(traffic_controller_id, item) for item in items]
