"""`netaudit demo`: the whole path on the sandbox fleet, then a findings table.

Starts the sandbox (a Kubernetes API per cluster, ARM, DNS), the collector
(`netaudit serve`, which starts the embedded Redis), one Celery worker, and one
agent per sample cluster; refreshes the inventory, runs one scan, prints the
findings, and stops everything it started, whatever ends it (an error, Ctrl-C,
SIGTERM). With `--serve` it keeps the collector, worker and agents running until
stopped, and prints the metrics URL and the command line that reaches them. Ingest
runs as in production: TLS from a CA made in the working folder, one bearer token
per cluster. The working folder holds a client secret and a CA key: 0700, removed
at exit unless `--keep` (or given with `--workdir`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from netaudit.collector.certificates import (
    CA_CERT_FILE,
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    init_authority,
)
from netaudit.collector.config import Settings, load_settings
from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.processes import ManagedProcess, adopt_orphans, stop_descendants
from netaudit.collector.scanning import Progress, refresh_inventory, run_scan, scan_summary
from netaudit.collector.service import Endpoints
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.runner import Sandbox, SandboxCluster, start_sandbox

STEP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
SERVE_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class DemoOptions:
    """What `netaudit demo` was asked for."""

    workdir: Path | None = None
    serve: bool = False
    keep: bool = False
    # Seconds between the agents' reports while serving: short, so that their
    # last-report metric stays fresh (a real agent's default is 300 s).
    report_interval: float = 30.0


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def sandbox_azure_config(sandbox: Sandbox, folder: Path) -> dict[str, object]:
    """The `azure:` section that reads the sandbox's ARM; the secret goes to a file."""
    secret_file = folder / "client-secret"
    secret_file.write_text(sandbox.client_secret)
    secret_file.chmod(0o600)
    return {
        "subscriptions": list(sandbox.subscriptions),
        "arm_url": sandbox.arm_url,
        "authority_url": sandbox.authority_url,
        "tenant_id": sandbox.tenant_id,
        "client_id": sandbox.client_id,
        "client_secret_file": str(secret_file),
        "ca_bundle": str(sandbox.ca_pem),
    }


def write_config(folder: Path, config: dict[str, object]) -> Path:
    path = folder / "netaudit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class AgentCredentials:
    """What an agent needs to reach the demo's collector: its CA and a token file."""

    root_cert: Path
    token_file: Path


def demo_tls(folder: Path) -> Path:
    """The folder of a CA and a loopback server certificate (made once per working folder)."""
    tls = folder / "tls"
    if not (tls / CA_CERT_FILE).exists():
        init_authority(tls, ["localhost", "127.0.0.1"])
    return tls


def write_demo_config(folder: Path, sandbox: Sandbox, tls: Path) -> Path:
    return write_config(
        folder,
        {
            "state_dir": str(folder / "collector"),
            "log_format": "json",
            "ingest": {
                "host": "127.0.0.1",
                "port": 0,
                "health_port": 0,
                "tls_cert_file": str(tls / SERVER_CERT_FILE),
                "tls_key_file": str(tls / SERVER_KEY_FILE),
            },
            "metrics": {"host": "127.0.0.1", "port": 0},
            "azure": sandbox_azure_config(sandbox, folder),
        },
    )


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text + "\n")


def agent_credentials(
    settings: Settings, sandbox: Sandbox, folder: Path, tls: Path
) -> dict[str, AgentCredentials]:
    """One bearer token per sample cluster, each in its own 0600 file, by cluster name."""
    upgrade(settings.store_url)
    credentials = {}
    with Store(settings.store_url) as store:
        for cluster in sandbox.clusters:
            token_file = folder / "tokens" / cluster.name
            write_secret(token_file, store.create_agent_token(cluster.arm_resource_id).token)
            credentials[cluster.name] = AgentCredentials(tls / CA_CERT_FILE, token_file)
    return credentials


def wait_for_endpoints(settings: Settings, collector: ManagedProcess) -> Endpoints:
    deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        collector.ensure_running()
        if settings.endpoints_file.exists():
            return Endpoints.read(settings.endpoints_file)
        time.sleep(0.1)
    raise ServiceUnavailable(f"the collector did not start within {STEP_TIMEOUT_SECONDS:.0f} s")


def agent_argv(
    cluster: SandboxCluster,
    sandbox: Sandbox,
    grpc: str,
    spool: Path,
    credentials: AgentCredentials,
    interval: float | None = None,
) -> list[str]:
    """One report and exit; or, with `interval`, a report every `interval` seconds."""
    argv = [
        _bin("netaudit-agent"),
        "run",
        *(["--once"] if interval is None else ["--interval", f"{interval:g}"]),
        "--collector",
        grpc,
        "--tls-root-cert",
        str(credentials.root_cert),
        "--token-file",
        str(credentials.token_file),
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--cluster-id",
        cluster.arm_resource_id,
        "--cluster-name",
        cluster.name,
        "--region",
        cluster.region,
        "--dns-server",
        sandbox.dns_server,
        "--spool-dir",
        str(spool),
        # every agent of the demo runs on this one host: their /healthz ports would collide
        "--health-port",
        "0",
    ]
    for name in cluster.dns_probe_names:
        argv += ["--dns-probe", name]
    return argv


def _agent(
    cluster: SandboxCluster,
    sandbox: Sandbox,
    grpc: str,
    folder: Path,
    credentials: AgentCredentials,
    interval: float | None = None,
) -> ManagedProcess:
    return ManagedProcess(
        f"agent for {cluster.name}",
        agent_argv(cluster, sandbox, grpc, folder / "agents" / cluster.name, credentials, interval),
        folder / "logs" / f"agent-{cluster.name}.log",
    )


def run_agents(
    sandbox: Sandbox, grpc: str, folder: Path, credentials: dict[str, AgentCredentials]
) -> None:
    """One report from every agent, each acknowledged by the collector."""
    agents = [
        _agent(cluster, sandbox, grpc, folder, credentials[cluster.name])
        for cluster in sandbox.clusters
    ]
    for agent in agents:
        agent.start()
    try:
        for agent in agents:
            if agent.wait(STEP_TIMEOUT_SECONDS) != 0:
                raise ServiceUnavailable(f"{agent.name} failed: {agent.log_tail()}")
    finally:
        for agent in agents:
            agent.stop()


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def working_folder(workdir: Path | None) -> tuple[Path, bool]:
    """The demo's folder, and whether the demo made it (then it removes it at exit)."""
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="netaudit-demo-")).resolve(), True
    folder = workdir.resolve()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder, False


def netaudit_command() -> str:
    """How the user calls `netaudit`: its name when the PATH finds this one, else its path."""
    ours = Path(_bin("netaudit"))
    found = shutil.which("netaudit")
    if found is not None and Path(found).resolve() == ours.resolve():
        return "netaudit"
    return shlex.quote(str(ours))


def command_line(config: Path, *args: str) -> str:
    return " ".join([netaudit_command(), "--config", shlex.quote(str(config)), *args])


def serve_until_stopped(processes: list[ManagedProcess]) -> None:
    """Until Ctrl-C or SIGTERM; a child that exits is a failure that stops everything."""
    while True:
        for process in processes:
            process.ensure_running()
        time.sleep(SERVE_POLL_SECONDS)


def run_demo(options: DemoOptions, progress: Progress) -> int:
    adopt_orphans()
    folder, made_here = working_folder(options.workdir)
    failed = True
    try:
        with ExitStack() as stack:
            # last of all: whatever a child left behind (its parent crashed, say)
            stack.callback(stop_descendants, STOP_TIMEOUT_SECONDS)
            demo_on_sandbox(folder, options, stack, progress)
        failed = False
    except KeyboardInterrupt:
        failed = False
        raise
    finally:
        leave_working_folder(folder, made_here, options.keep, failed)
    return 0


def leave_working_folder(folder: Path, made_here: bool, keep: bool, failed: bool) -> None:
    """Remove the folder the demo made, unless kept or the run failed (its logs say why);
    else say where it stays (the demo's own 0700: it holds a client secret and a CA key)."""
    if made_here and not keep and not failed:
        shutil.rmtree(folder, ignore_errors=True)
        return
    if made_here:
        folder.chmod(0o700)
    why = "its logs say what failed" if failed else "remove it when done"
    print(f"working folder: {folder}  (kept: {why})", flush=True)


@dataclass(frozen=True)
class DemoFleet:
    """The sandbox, with the collector and a worker running on it."""

    folder: Path
    config: Path
    settings: Settings
    sandbox: Sandbox
    credentials: dict[str, AgentCredentials]
    endpoints: Endpoints
    collector: ManagedProcess
    worker: ManagedProcess


def demo_on_sandbox(
    folder: Path, options: DemoOptions, stack: ExitStack, progress: Progress
) -> None:
    started = time.monotonic()
    fleet = start_fleet(folder, stack, progress)
    progress(f"running {len(fleet.sandbox.clusters)} agents (one per cluster)")
    run_agents(fleet.sandbox, fleet.endpoints.grpc, folder, fleet.credentials)
    findings, clusters = scan_once(fleet, stack, progress)
    print(f"\n{findings} finding(s) on {clusters} cluster(s) in {time.monotonic() - started:.1f} s")
    if options.serve:
        serve(fleet, options, stack, progress)
        return
    progress("stopping the collector, its /metrics and the worker (--serve keeps them up)")
    if options.keep or options.workdir is not None:
        print(f"report:  {command_line(fleet.config, 'report')}  (reads the kept store)")


def start_fleet(folder: Path, stack: ExitStack, progress: Progress) -> DemoFleet:
    progress("starting the sandbox fleet (Kubernetes API per cluster, ARM, DNS)")
    sandbox = stack.enter_context(start_sandbox(folder / "sandbox"))
    tls = demo_tls(folder)
    config = write_demo_config(folder, sandbox, tls)
    settings = load_settings(config)
    credentials = agent_credentials(settings, sandbox, folder, tls)
    progress(
        f"sandbox: {len(sandbox.clusters)} clusters in "
        f"{len(sandbox.subscriptions)} subscriptions; starting the collector"
    )
    netaudit = [_bin("netaudit"), "--config", str(config)]
    collector = stack.enter_context(
        ManagedProcess("collector", [*netaudit, "serve"], folder / "logs" / "collector.log")
    )
    endpoints = wait_for_endpoints(settings, collector)
    progress(f"collector: gRPC {endpoints.grpc} (TLS, one token per agent); starting a worker")
    worker = stack.enter_context(
        ManagedProcess(
            "worker",
            [*netaudit, "worker", "--concurrency", "2"],
            folder / "logs" / "worker.log",
        )
    )
    return DemoFleet(folder, config, settings, sandbox, credentials, endpoints, collector, worker)


def scan_once(fleet: DemoFleet, stack: ExitStack, progress: Progress) -> tuple[int, int]:
    """Refresh the inventory, scan, print the findings; (findings, clusters) scanned."""
    clusters = refresh_inventory(fleet.settings, STEP_TIMEOUT_SECONDS, progress)
    progress(f"inventory: {clusters} clusters read from ARM")
    store = Store(fleet.settings.store_url)
    stack.callback(store.close)
    record = run_scan(fleet.settings, store, STEP_TIMEOUT_SECONDS, progress)
    summary = scan_summary(store, record.id)
    scrape(fleet.endpoints.metrics_url)
    print(summary, flush=True)
    return record.findings, record.clusters


def serve(fleet: DemoFleet, options: DemoOptions, stack: ExitStack, progress: Progress) -> None:
    """Agents reporting every `report_interval` seconds until Ctrl-C or SIGTERM, which
    here are the normal end, not an interruption."""
    agents = [
        stack.enter_context(
            _agent(
                cluster,
                fleet.sandbox,
                fleet.endpoints.grpc,
                fleet.folder,
                fleet.credentials[cluster.name],
                options.report_interval,
            )
        )
        for cluster in fleet.sandbox.clusters
    ]
    try:
        print(f"metrics: {fleet.endpoints.metrics_url}")
        print(f"try:     {command_line(fleet.config, 'report')}")
        print(f"logs:    {fleet.folder / 'logs'}", flush=True)
        kept = options.keep or options.workdir is not None
        progress(
            f"serving until Ctrl-C or SIGTERM; agents report every {options.report_interval:g} s"
            + ("" if kept else "; the working folder goes at exit")
        )
        serve_until_stopped([fleet.collector, fleet.worker, *agents])
    except KeyboardInterrupt:
        progress("stopping")
