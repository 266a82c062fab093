"""The sample fleet: three AKS clusters in two subscriptions, shipped as data in ``fleet_data/``.

``fleet_data/fleet.yaml`` names the identity provider's service principal, the
subscriptions, the clusters (ARM id and Kubernetes fixture folder) and the
records the sandbox DNS server answers; ``fleet_data/arm`` holds the ARM bodies
and ``fleet_data/kube/<cluster>`` each cluster's objects. MANIFEST.md says where
every file comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netaudit.sandbox.arm_data import ArmData
from netaudit.sandbox.errors import FixtureError

DEFAULT_FLEET_ROOT = Path(__file__).resolve().parent / "fleet_data"


@dataclass(frozen=True)
class SampleCluster:
    name: str
    arm_resource_id: str
    subscription_id: str
    resource_group: str
    region: str
    # Folder of the cluster's Kubernetes fixtures (served by KubeApiServer).
    kube_dir: Path
    # Names an agent in this cluster probes (answered by the sandbox DNS server).
    dns_probe_names: tuple[str, ...]

    @property
    def key(self) -> str:
        """The cluster key used everywhere: the lower-cased ARM resource id."""
        return self.arm_resource_id.lower()


@dataclass(frozen=True)
class SampleFleet:
    root: Path
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    # (subscription id, display name)
    subscriptions: tuple[tuple[str, str], ...]
    clusters: tuple[SampleCluster, ...]
    dns_records: Mapping[str, tuple[str, ...]]
    arm: ArmData = field(repr=False, compare=False)

    def cluster(self, name: str) -> SampleCluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(f"no cluster named {name!r} in the sample fleet")

    @property
    def subscription_ids(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.subscriptions)


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / "fleet.yaml"
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise FixtureError(f"cannot read the fleet manifest {path}: {error}") from error
    if not isinstance(manifest, dict):
        raise FixtureError(f"{path}: expected a mapping")
    return manifest


def _cluster(root: Path, entry: Mapping[str, Any], arm: ArmData) -> SampleCluster:
    name = str(entry["name"])
    arm_id = str(entry["arm_resource_id"])
    body = arm.get(arm_id)
    if body is None:
        raise FixtureError(f"cluster {name}: no ARM body with id {arm_id} under {root / 'arm'}")
    kube_dir = root / str(entry["kube"])
    if not kube_dir.is_dir():
        raise FixtureError(f"cluster {name}: Kubernetes fixture folder {kube_dir} does not exist")
    parts = str(body["id"]).split("/")
    return SampleCluster(
        name=name,
        arm_resource_id=str(body["id"]),
        subscription_id=parts[2],
        resource_group=parts[4],
        region=str(body.get("location", "")),
        kube_dir=kube_dir,
        dns_probe_names=tuple(str(n) for n in entry.get("dns_probe_names") or ()),
    )


def load_sample_fleet(root: Path | None = None) -> SampleFleet:
    """Load a fleet laid out like ``fleet_data/`` (the shipped sample fleet by default)."""
    root = Path(root) if root is not None else DEFAULT_FLEET_ROOT
    manifest = _read_manifest(root)
    try:
        subscriptions = tuple(
            (str(s["id"]), str(s.get("name", s["id"]))) for s in manifest["subscriptions"]
        )
        credentials = {
            "tenant_id": str(manifest["tenant_id"]),
            "client_id": str(manifest["client_id"]),
            "client_secret": str(manifest["client_secret"]),
        }
        arm = ArmData.load(root / "arm", subscription_names=dict(subscriptions), **credentials)
        clusters = tuple(_cluster(root, entry, arm) for entry in manifest["clusters"])
        records = {
            str(k): tuple(str(a) for a in v) for k, v in (manifest.get("dns_records") or {}).items()
        }
    except (KeyError, TypeError) as error:
        raise FixtureError(f"{root / 'fleet.yaml'}: missing or malformed field {error}") from error
    return SampleFleet(
        root=root,
        subscriptions=subscriptions,
        clusters=clusters,
        dns_records=records,
        arm=arm,
        **credentials,
    )
