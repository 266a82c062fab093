"""Resource provider registration where a cluster depends on another subscription (PDN-012):
``Microsoft.ContainerService`` in the subscription of a custom private DNS zone that is not
the cluster's own."""

from __future__ import annotations

from netaudit.collector.inventory import convert
from netaudit.collector.inventory.raw_requests import SendsRequests, get_json
from netaudit.v1 import inventory_pb2

API_VERSION = "2025-04-01"
CONTAINER_SERVICE = "Microsoft.ContainerService"


def wanted_registrations(inventory: inventory_pb2.ClusterInventory) -> list[tuple[str, str]]:
    """(subscription id, namespace) pairs to read for this cluster."""
    zone = inventory.api_server_access.private_dns_zone
    if not zone.startswith("/"):
        return []
    zone_subscription = convert.resource_id_part(zone, "subscriptions")
    if not zone_subscription or zone_subscription.lower() == inventory.subscription_id.lower():
        return []
    return [(zone_subscription, CONTAINER_SERVICE)]


def provider_id(subscription_id: str, namespace: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/{namespace}"


def read_registration(
    client: SendsRequests, subscription_id: str, namespace: str
) -> inventory_pb2.ResourceProviderRegistration:
    body = get_json(client, provider_id(subscription_id, namespace), {"api-version": API_VERSION})
    return convert.resource_provider(subscription_id, body)
