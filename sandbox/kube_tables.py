"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for with ``Accept: ...;as=Table``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from netaudit.sandbox.kube_jsonpath import JsonPathError, find_results, text_of
from netaudit.sandbox.kube_resources import PrinterColumn, ResourceType

Object = Mapping[str, Any]
Column = tuple[str, str, int, Callable[[Object], Any]]  # name, type, priority, cell


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def human_duration(seconds: int) -> str:
    """apimachinery's ``duration.HumanDuration``, the ages kubectl prints: ``90s``, ``5m30s``,
    ``12m``, ``3h20m``, ``20h``, ``3d5h``, ``63d``, ``2y30d``, ``9y``."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400

    def pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
        return f"{big}{big_unit}" if small == 0 else f"{big}{big_unit}{small}{small_unit}"

    if minutes < 10:
        return pair(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return pair(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return pair(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def age(obj: Object, now: datetime | None = None) -> str:
    """How long ago the object was created, as kubectl prints it."""
    created = _get(obj, "metadata", "creationTimestamp")
    if not created:
        return "<unknown>"
    started = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    return human_duration(int(((now or datetime.now(UTC)) - started).total_seconds()))


def _name(obj: Object) -> str:
    return str(_get(obj, "metadata", "name") or "")


def _node_status(node: Object) -> str:
    conditions = _get(node, "status", "conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    status = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if ready is None:
        status = "Unknown"
    return status + (",SchedulingDisabled" if _get(node, "spec", "unschedulable") else "")


def _node_roles(node: Object) -> str:
    labels = _get(node, "metadata", "labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _node_address(node: Object, kind: str) -> str:
    addresses = _get(node, "status", "addresses") or []
    return next((a["address"] for a in addresses if a.get("type") == kind), "<none>")


def _pod_ready(pod: Object) -> str:
    statuses = _get(pod, "status", "containerStatuses") or []
    total = len(_get(pod, "spec", "containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_restarts(pod: Object) -> int:
    return sum(
        int(s.get("restartCount", 0)) for s in _get(pod, "status", "containerStatuses") or []
    )


def _service_ports(service: Object) -> str:
    ports = _get(service, "spec", "ports") or []
    rendered = []
    for port in ports:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        rendered.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(rendered) or "<none>"


def _service_external_ip(service: Object) -> str:
    ingress = _get(service, "status", "loadBalancer", "ingress") or []
    addresses = [i.get("ip") or i.get("hostname") for i in ingress]
    if addresses:
        return ",".join(a for a in addresses if a)
    return "<pending>" if _get(service, "spec", "type") == "LoadBalancer" else "<none>"


def _containers(obj: Object) -> list[Mapping[str, Any]]:
    return list(_get(obj, "spec", "template", "spec", "containers") or [])


def _selector(obj: Object) -> str:
    match = _get(obj, "spec", "selector", "matchLabels") or _get(obj, "spec", "selector") or {}
    return ",".join(f"{k}={v}" for k, v in match.items() if isinstance(v, str)) or "<none>"


def _first_three(values: list[str]) -> str:
    """kubectl's listWithMoreString: three values, then ``+ N more...``; ``<unset>`` if none."""
    text = ",".join(values[:3])
    if len(values) > 3:
        return f"{text} + {len(values) - 3} more..."
    return text or "<unset>"


def _slice_ports(endpoint_slice: Object) -> str:
    ports = endpoint_slice.get("ports") or []
    return _first_three([str(p.get("port", p.get("name") or "*")) for p in ports])


def _slice_endpoints(endpoint_slice: Object) -> str:
    endpoints = endpoint_slice.get("endpoints") or []
    return _first_three([a for e in endpoints for a in e.get("addresses") or []])


_AGE: Column = ("Age", "string", 0, age)
_NAME: Column = ("Name", "string", 0, _name)

COLUMNS: dict[tuple[str, str], tuple[Column, ...]] = {
    ("", "nodes"): (
        _NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        _AGE,
        ("Version", "string", 0, lambda n: _get(n, "status", "nodeInfo", "kubeletVersion") or ""),
        ("Internal-IP", "string", 1, lambda n: _node_address(n, "InternalIP")),
        ("External-IP", "string", 1, lambda n: _node_address(n, "ExternalIP")),
        ("OS-Image", "string", 1, lambda n: _get(n, "status", "nodeInfo", "osImage") or ""),
        (
            "Kernel-Version",
            "string",
            1,
            lambda n: _get(n, "status", "nodeInfo", "kernelVersion") or "",
        ),
        (
            "Container-Runtime",
            "string",
            1,
            lambda n: _get(n, "status", "nodeInfo", "containerRuntimeVersion") or "",
        ),
    ),
    ("", "pods"): (
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        (
            "Status",
            "string",
            0,
            lambda p: _get(p, "status", "reason") or _get(p, "status", "phase") or "",
        ),
        ("Restarts", "string", 0, lambda p: str(_pod_restarts(p))),
        _AGE,
        ("IP", "string", 1, lambda p: _get(p, "status", "podIP") or "<none>"),
        ("Node", "string", 1, lambda p: _get(p, "spec", "nodeName") or "<none>"),
        (
            "Nominated Node",
            "string",
            1,
            lambda p: _get(p, "status", "nominatedNodeName") or "<none>",
        ),
        ("Readiness Gates", "string", 1, lambda p: "<none>"),
    ),
    ("", "services"): (
        _NAME,
        ("Type", "string", 0, lambda s: _get(s, "spec", "type") or "ClusterIP"),
        ("Cluster-IP", "string", 0, lambda s: _get(s, "spec", "clusterIP") or "<none>"),
        ("External-IP", "string", 0, _service_external_ip),
        ("Port(s)", "string", 0, _service_ports),
        _AGE,
        (
            "Selector",
            "string",
            1,
            lambda s: (
                ",".join(f"{k}={v}" for k, v in (_get(s, "spec", "selector") or {}).items())
                or "<none>"
            ),
        ),
    ),
    ("discovery.k8s.io", "endpointslices"): (
        _NAME,
        ("AddressType", "string", 0, lambda e: e.get("addressType") or ""),
        ("Ports", "string", 0, _slice_ports),
        ("Endpoints", "string", 0, _slice_endpoints),
        _AGE,
    ),
    ("apps", "deployments"): (
        _NAME,
        (
            "Ready",
            "string",
            0,
            lambda d: (
                f"{_get(d, 'status', 'readyReplicas') or 0}/{_get(d, 'spec', 'replicas') or 0}"
            ),
        ),
        ("Up-to-date", "integer", 0, lambda d: _get(d, "status", "updatedReplicas") or 0),
        ("Available", "integer", 0, lambda d: _get(d, "status", "availableReplicas") or 0),
        _AGE,
        ("Containers", "string", 1, lambda d: ",".join(c.get("name", "") for c in _containers(d))),
        ("Images", "string", 1, lambda d: ",".join(c.get("image", "") for c in _containers(d))),
        ("Selector", "string", 1, _selector),
    ),
    ("apps", "daemonsets"): (
        _NAME,
        ("Desired", "integer", 0, lambda d: _get(d, "status", "desiredNumberScheduled") or 0),
        ("Current", "integer", 0, lambda d: _get(d, "status", "currentNumberScheduled") or 0),
        ("Ready", "integer", 0, lambda d: _get(d, "status", "numberReady") or 0),
        ("Up-to-date", "integer", 0, lambda d: _get(d, "status", "updatedNumberScheduled") or 0),
        ("Available", "integer", 0, lambda d: _get(d, "status", "numberAvailable") or 0),
        (
            "Node Selector",
            "string",
            0,
            lambda d: (
                ",".join(
                    f"{k}={v}"
                    for k, v in (_get(d, "spec", "template", "spec", "nodeSelector") or {}).items()
                )
                or "<none>"
            ),
        ),
        _AGE,
        ("Containers", "string", 1, lambda d: ",".join(c.get("name", "") for c in _containers(d))),
        ("Images", "string", 1, lambda d: ",".join(c.get("image", "") for c in _containers(d))),
    ),
}


def _custom_columns(resource: ResourceType, version: str) -> tuple[Column, ...]:
    """Name, then the CRD version's printer columns; only a CRD without any gets Age, as
    the API server defaults it."""
    printer_columns = resource.printer_columns.get(version, ())
    if not printer_columns:
        return (_NAME, ("Age", "date", 0, age))
    custom: list[Column] = [
        (column.name, column.type, column.priority, partial(_custom_cell, column=column))
        for column in printer_columns
    ]
    return (_NAME, *custom)


def _custom_cell(obj: Object, column: PrinterColumn) -> Any:
    """The first value the column's JSONPath selects, typed as the API server's table
    convertor does: strings printed, other types kept only when the value has that type."""
    try:
        results = find_results(obj, column.json_path)
    except JsonPathError:
        return None
    if not results or results[0] is None:
        return None
    value = results[0]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if column.type == "string":
        return text_of(value)
    if column.type == "integer":
        return int(value) if number else None
    if column.type == "number":
        return float(value) if number else None
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    if column.type == "date":
        if not isinstance(value, str):
            return None
        try:
            return age({"metadata": {"creationTimestamp": value}})
        except ValueError:
            return "<invalid>"
    return None


def _columns_for(resource: ResourceType, version: str) -> tuple[Column, ...]:
    builtin = COLUMNS.get((resource.group, resource.plural))
    if builtin is not None:
        return builtin
    return _custom_columns(resource, version)


def partial_metadata(obj: Object) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(obj.get("metadata") or {}),
    }


def table(
    resource: ResourceType,
    version: str,
    objects: list[dict[str, Any]],
    list_metadata: Mapping[str, Any],
    include_object: str = "Metadata",
) -> dict[str, Any]:
    columns = _columns_for(resource, version)
    rows = []
    for obj in objects:
        cells = [cell(obj) for _, _, _, cell in columns]
        if not resource.custom:
            cells = ["" if value is None else value for value in cells]
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    definitions = [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": priority,
        }
        for name, kind, priority, _ in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_metadata),
        "columnDefinitions": definitions,
        "rows": rows,
    }
