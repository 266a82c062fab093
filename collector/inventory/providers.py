"""Resource provider registration where a cluster depends on another subscription (PDN-012):
``Microsoft.ContainerService`` in the subscription of a custom private DNS zone that is not
the cluster's own (:func:`~netaudit.collector.inventory.references.provider_registrations`)."""

from __future__ import annotations

from netaudit.collector.inventory import convert
from netaudit.collector.inventory.raw_requests import SendsRequests, get_json
from netaudit.collector.inventory.references import provider_id
from netaudit.v1 import inventory_pb2

API_VERSION = "2025-04-01"


def read_registration(
    client: SendsRequests, subscription_id: str, namespace: str
) -> inventory_pb2.ResourceProviderRegistration:
    body = get_json(client, provider_id(subscription_id, namespace), {"api-version": API_VERSION})
    return convert.resource_provider(subscription_id, body)
