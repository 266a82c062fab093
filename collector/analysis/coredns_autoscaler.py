"""The parameters of cluster-proportional-autoscaler, which sizes CoreDNS on AKS from
ConfigMap ``kube-system/coredns-autoscaler`` (A-CDA; domain.md §3.3).

Semantics from kubernetes-sigs/cluster-proportional-autoscaler:
``pkg/autoscaler/controller/plugin/plugin.go`` (exactly one key, the control mode),
``linearcontroller`` (``min`` 0 or unset means 1, ``max`` >= ``min``, one of
``coresPerReplica``/``nodesPerReplica``; ``preventSinglePointFailure`` keeps 2 replicas
on clusters of more than one node) and ``laddercontroller`` (``[threshold, replicas]``
steps, both >= 1; an empty ladder answers 1; the larger of the cores and nodes answers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MODES = ("linear", "ladder")


class InvalidParams(ValueError):
    """Parameters the cluster-proportional-autoscaler refuses to load."""


def replica_floor(data: Mapping[str, str]) -> tuple[str, int, str]:
    """(mode, fewest replicas the parameters allow, why) or :class:`InvalidParams`
    (kubernetes-sigs/cluster-proportional-autoscaler: one key, ``linear`` or ``ladder``)."""
    if len(data) != 1:
        raise InvalidParams(f"expected one key, linear or ladder, got {', '.join(sorted(data))}")
    ((mode, text),) = data.items()
    if mode not in MODES:
        raise InvalidParams(f"{mode!r} is not a control mode (linear or ladder)")
    try:
        params = json.loads(text)
    except ValueError as exc:
        raise InvalidParams(f"{mode} is not JSON: {exc}") from exc
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParams(f"{mode} is not a JSON object")
    return (mode, *(_linear(params) if mode == "linear" else _ladder(params)))


def _integer(params: Mapping[str, Any], name: str) -> int:
    value = params.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams(f"{name} is not an integer: {value!r}")
    return value


def _linear(params: Mapping[str, Any]) -> tuple[int, str]:
    """``min`` (0 or unset means 1), raised to 2 by ``preventSinglePointFailure`` on
    clusters of more than one node (linearcontroller)."""
    minimum, maximum = _integer(params, "min"), _integer(params, "max")
    cores, nodes = _integer(params, "coresPerReplica"), _integer(params, "nodesPerReplica")
    if minimum < 0 or cores < 0 or nodes < 0:
        raise InvalidParams("min, coresPerReplica and nodesPerReplica must not be negative")
    minimum = minimum or 1
    if maximum and maximum < minimum:
        raise InvalidParams(f"max {maximum} is below min {minimum}")
    if not cores and not nodes:
        raise InvalidParams("neither coresPerReplica nor nodesPerReplica is set")
    if params.get("preventSinglePointFailure") is True:
        return max(minimum, 2), f"min {minimum} with preventSinglePointFailure"
    return minimum, f"min is {minimum} and preventSinglePointFailure is not set"


def _ladder(params: Mapping[str, Any]) -> tuple[int, str]:
    """The larger of the two ladders' smallest steps (an absent ladder counts 1): the
    autoscaler takes the larger of the cores and nodes answers (laddercontroller)."""
    floors = []
    for name in ("coresToReplicas", "nodesToReplicas"):
        steps = params.get(name) or []
        if not isinstance(steps, list):
            raise InvalidParams(f"{name} is not a list")
        replicas = [_step(name, step) for step in steps]
        floors.append((min(replicas) if replicas else 1, name))
    floor, name = max(floors)
    return floor, f"the smallest replica count in {name} is {floor}"


def _step(name: str, step: object) -> int:
    if not isinstance(step, list) or len(step) < 2:
        raise InvalidParams(f"{name} entry {step!r} is not [threshold, replicas]")
    threshold, replicas = step[0], step[1]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (threshold, replicas)):
        raise InvalidParams(f"{name} entry {step!r} is not two integers")
    threshold, replicas = int(threshold), int(replicas)
    if threshold < 1 or replicas < 1:
        raise InvalidParams(f"{name} entry {step!r} has a value below 1")
    return replicas
