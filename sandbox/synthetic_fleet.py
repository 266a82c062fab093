"""A synthetic fleet for scale: N subscriptions x M clusters, each cluster shaped like the
sample fleet's ``aks-cni-neu`` (its real-shaped body, two pools on one subnet) in a VNet
of its own with that subnet and its usage row, plus ``systemData`` as ARM returns it.

``touch`` and ``remove`` change the fleet between two refreshes, as a cluster update
or a deletion would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from netaudit.sandbox.arm_data import ArmData, Body
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT

_TEMPLATE_SUBSCRIPTION = "aaaaaaaa-0000-0000-0000-000000000001"
_TEMPLATE_CLUSTER = "aks-cni-neu"
_TEMPLATE_VNET = "vnet-neu"
CREATED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def subscription_id(index: int) -> str:
    return f"5a5a5a5a-0000-0000-0000-{index:012d}"


def cluster_id(subscription: int, cluster: int) -> str:
    return (
        f"/subscriptions/{subscription_id(subscription)}/resourcegroups/rg-fleet-{cluster:04d}"
        f"/providers/Microsoft.ContainerService/managedClusters/aks-{subscription:03d}-{cluster:04d}"
    )


def synthetic_fleet(subscriptions: int, clusters_per_subscription: int) -> ArmData:
    """The fleet's ARM data, with ArmData's default credentials."""
    arm = DEFAULT_FLEET_ROOT / "arm"
    cluster_text = (arm / "resources/managedclusters/aks-cni-neu.json").read_text("utf-8")
    vnet_text = (arm / "resources/network/vnet-neu.json").read_text("utf-8")
    usage_text = (arm / "usages/vnet-neu.json").read_text("utf-8")
    resources: list[Body] = []
    usages: list[Body] = []
    for s in range(subscriptions):
        for c in range(clusters_per_subscription):

            def rename(text: str, s: int = s, c: int = c) -> str:
                return (
                    text.replace(_TEMPLATE_SUBSCRIPTION, subscription_id(s))
                    .replace("rg-payments-neu", f"rg-fleet-{c:04d}")
                    .replace("rg-net-neu", f"rg-fleet-{c:04d}")
                    .replace(_TEMPLATE_CLUSTER, f"aks-{s:03d}-{c:04d}")
                    .replace(_TEMPLATE_VNET, f"vnet-{c:04d}")
                )

            cluster = json.loads(rename(cluster_text))
            cluster["systemData"] = _system_data(CREATED)
            resources.append(cluster)
            resources.append(json.loads(rename(vnet_text)))
            usages.extend(json.loads(rename(usage_text))["value"])
    return ArmData(
        resources=resources,
        usages=usages,
        subscription_names={subscription_id(s): f"fleet-{s:03d}" for s in range(subscriptions)},
    )


def _system_data(modified: datetime) -> Body:
    return {
        "createdBy": "platform@example.com",
        "createdByType": "User",
        "createdAt": CREATED.isoformat().replace("+00:00", "Z"),
        "lastModifiedBy": "platform@example.com",
        "lastModifiedByType": "User",
        "lastModifiedAt": modified.isoformat().replace("+00:00", "Z"),
    }


def touch(data: ArmData, resource_id: str, minutes: int = 1) -> None:
    """The cluster was updated: its lastModifiedAt moves ``minutes`` later."""
    body = data.get(resource_id)
    if body is None:
        raise KeyError(resource_id)
    system = body.setdefault("systemData", _system_data(CREATED))
    modified = datetime.fromisoformat(str(system["lastModifiedAt"]).replace("Z", "+00:00"))
    body["systemData"] = {
        **system,
        "lastModifiedAt": (modified + timedelta(minutes=minutes))
        .isoformat()
        .replace("+00:00", "Z"),
    }


def remove(data: ArmData, resource_id: str) -> None:
    """The cluster was deleted."""
    data.remove(resource_id)
