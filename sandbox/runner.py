"""Start the whole sandbox: one Kubernetes API server per cluster, ARM with its identity
provider, and DNS; write the files clients need (CA, kubeconfigs, sandbox.json)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netaudit.sandbox.arm import DEFAULT_PAGE_SIZE, ArmFaults, ArmServer
from netaudit.sandbox.arm_throttle import ArmThrottle
from netaudit.sandbox.dns import DnsServer
from netaudit.sandbox.errors import FixtureError
from netaudit.sandbox.kube_api import KubeApiServer, KubeFaults
from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.sample_fleet import SampleFleet, load_sample_fleet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxCluster:
    name: str
    arm_resource_id: str
    subscription_id: str
    region: str
    kube_url: str
    kubeconfig: Path
    dns_probe_names: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.arm_resource_id.lower()


@dataclass(frozen=True)
class Sandbox:
    """Where a running sandbox answers, and the credentials its identity provider accepts."""

    arm_url: str
    ca_pem: Path
    authority_url: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    subscriptions: tuple[str, ...] = ()
    # "127.0.0.1:PORT", UDP and TCP
    dns_server: str = ""
    clusters: tuple[SandboxCluster, ...] = ()

    def cluster(self, name: str) -> SandboxCluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(f"no cluster named {name!r} in the sandbox")

    @property
    def dns_address(self) -> tuple[str, int]:
        host, _, port = self.dns_server.rpartition(":")
        return host, int(port)

    def to_json(self) -> str:
        data = asdict(self)
        data["ca_pem"] = str(self.ca_pem)
        for cluster in data["clusters"]:
            cluster["kubeconfig"] = str(cluster["kubeconfig"])
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, path: Path) -> Sandbox:
        try:
            data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
            clusters = tuple(
                SandboxCluster(
                    **{
                        **c,
                        "kubeconfig": Path(c["kubeconfig"]),
                        "dns_probe_names": tuple(c["dns_probe_names"]),
                    }
                )
                for c in data.pop("clusters")
            )
            return cls(
                **{
                    **data,
                    "ca_pem": Path(data["ca_pem"]),
                    "subscriptions": tuple(data["subscriptions"]),
                    "clusters": clusters,
                }
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FixtureError(f"cannot read sandbox description {path}: {error}") from error


def kubeconfig(cluster_name: str, server_url: str) -> dict[str, Any]:
    """A kubeconfig that kubectl and the kubernetes client both accept for a plain-HTTP server."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": server_url}}],
        "users": [{"name": "sandbox-reader", "user": {}}],
        "contexts": [
            {"name": cluster_name, "context": {"cluster": cluster_name, "user": "sandbox-reader"}}
        ],
        "current-context": cluster_name,
        "preferences": {},
    }


@contextmanager
def start_sandbox(
    workdir: Path,
    fleet: SampleFleet | None = None,
    kube_faults: Mapping[str, KubeFaults] | None = None,
    arm_faults: ArmFaults | None = None,
    arm_page_size: int = DEFAULT_PAGE_SIZE,
    host: str = "127.0.0.1",
    rbac: RbacPolicy | None = None,
    arm_throttle: ArmThrottle | None = None,
) -> Iterator[Sandbox]:
    """Run the sandbox for ``fleet`` (the sample fleet by default) until the block exits.

    ``kube_faults`` maps a cluster name to the faults its API server injects; ``rbac``
    (e.g. ``RbacPolicy.load(deploy/rbac/agent-clusterrole.yaml)``) is enforced by every
    cluster's API server; ``arm_throttle`` throttles ARM as its buckets say."""
    fleet = fleet or load_sample_fleet()
    workdir = Path(workdir)
    (workdir / "kube").mkdir(parents=True, exist_ok=True)
    faults = dict(kube_faults or {})
    with ExitStack() as stack:
        arm = ArmServer(
            fleet.arm,
            host=host,
            faults=arm_faults,
            page_size=arm_page_size,
            ca_pem_path=workdir / "ca.pem",
            throttle=arm_throttle,
        )
        stack.enter_context(arm)
        dns = stack.enter_context(
            DnsServer({k: list(v) for k, v in fleet.dns_records.items()}, host=host)
        )
        clusters = []
        for cluster in fleet.clusters:
            server = stack.enter_context(
                KubeApiServer(
                    cluster.kube_dir, host=host, faults=faults.get(cluster.name), rbac=rbac
                )
            )
            path = workdir / "kube" / f"{cluster.name}.yaml"
            path.write_text(
                yaml.safe_dump(kubeconfig(cluster.name, server.url), sort_keys=False),
                encoding="utf-8",
            )
            clusters.append(
                SandboxCluster(
                    name=cluster.name,
                    arm_resource_id=cluster.arm_resource_id,
                    subscription_id=cluster.subscription_id,
                    region=cluster.region,
                    kube_url=server.url,
                    kubeconfig=path,
                    dns_probe_names=cluster.dns_probe_names,
                )
            )
        dns_host, dns_port = dns.address
        sandbox = Sandbox(
            arm_url=arm.url,
            ca_pem=arm.ca_pem_path,
            authority_url=arm.authority_url,
            tenant_id=fleet.tenant_id,
            client_id=fleet.client_id,
            client_secret=fleet.client_secret,
            subscriptions=fleet.subscription_ids,
            dns_server=f"{dns_host}:{dns_port}",
            clusters=tuple(clusters),
        )
        (workdir / "sandbox.json").write_text(sandbox.to_json(), encoding="utf-8")
        logger.info(
            "sandbox running: ARM %s, DNS %s, %d clusters",
            sandbox.arm_url,
            sandbox.dns_server,
            len(clusters),
        )
        yield sandbox


def serve_sandbox(
    workdir: Path,
    fleet: SampleFleet | None = None,
    on_ready: Callable[[Sandbox], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the sandbox until ``stop`` is set (or the process is interrupted); ``on_ready``
    gets the endpoints once everything listens."""
    stop = stop or threading.Event()
    with start_sandbox(workdir, fleet) as sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        # Short waits keep Ctrl-C responsive on every platform.
        while not stop.wait(0.5):
            pass
