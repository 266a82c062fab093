"""What a cluster's inventory references and the refresh must read next, shared by the
ARM reader (collector/inventory/arm.py) and the file reader of the offline audit
(audit/arm_files.py). Pure: no Azure SDK, so reading files does not need it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netaudit.v1 import inventory_pb2


def referenced_subnet_ids(inventory: inventory_pb2.ClusterInventory) -> list[str]:
    """The pools' node and pod subnets and the API server's VNet-integration subnet."""
    ids = [
        subnet_id
        for pool in inventory.agent_pools
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id)
        if subnet_id
    ]
    if inventory.api_server_access.subnet_id:
        ids.append(inventory.api_server_access.subnet_id)
    return unique_ids(ids)


def addon_setting(config: Mapping[str, str], key: str) -> str:
    """An add-on config value by key, ignoring case (ARM and the CLI differ)."""
    wanted = key.lower()
    return next((value for name, value in config.items() if name.lower() == wanted), "")


def unique_ids(ids: Iterable[str]) -> list[str]:
    """Resource ids without repeats, compared case-insensitively; the first spelling kept."""
    seen: dict[str, str] = {}
    for resource_id in ids:
        if resource_id:
            seen.setdefault(resource_id.lower(), resource_id)
    return list(seen.values())


def unique_gaps(gaps: Iterable[inventory_pb2.InventoryGap]) -> list[inventory_pb2.InventoryGap]:
    """One gap per (resource, reason), the first kept."""
    seen: dict[tuple[str, str], inventory_pb2.InventoryGap] = {}
    for gap in gaps:
        seen.setdefault((gap.resource_id.lower(), gap.reason), gap)
    return list(seen.values())
