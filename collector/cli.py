"""`netaudit`: the collector's command line.

Configuration: flags > NETAUDIT_… environment > the YAML file (--config) > defaults.
Errors a user can cause end in one line and exit code 2 (usage/config) or 1.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from netaudit.collector import logs
from netaudit.collector.config import Settings, load_settings
from netaudit.collector.errors import NetauditError, UsageError

if TYPE_CHECKING:
    from netaudit.collector.store import AgentToken, Store

app = typer.Typer(
    name="netaudit",
    help="Audit the networking of a fleet of AKS clusters: ingest agent reports, read ARM, "
    "run compliance rules on Celery workers, export Prometheus metrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
inventory_app = typer.Typer(
    help="The fleet as Azure Resource Manager sees it.", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="Per-cluster bearer tokens of agents (the store keeps only their sha256).",
    no_args_is_help=True,
)
certs_app = typer.Typer(
    help="A quick-start CA, the collector's server certificate, agents' client certificates.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(inventory_app, name="inventory")
app.add_typer(tokens_app, name="tokens")
app.add_typer(certs_app, name="certs")


class _Options:
    debug = False
    config: Path | None = None
    state_dir: Path | None = None
    log_level: str | None = None


def _settings(**flags: Any) -> Settings:
    settings = load_settings(
        _Options.config, state_dir=_Options.state_dir, log_level=_Options.log_level, **flags
    )
    logs.configure(settings.log_level, settings.log_format)
    return settings


def _progress(message: str) -> None:
    print(f"• {message}", file=sys.stderr, flush=True)


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML configuration file.")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for the SQLite store, embedded broker and endpoint files."),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks for errors.")] = False,
) -> None:
    _Options.config, _Options.state_dir, _Options.log_level = config, state_dir, log_level
    _Options.debug = debug


@app.command()
def serve(
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Plaintext ingest without credentials: anyone who reaches the port writes "
            "for any cluster. Loopback tests only; logs a warning.",
        ),
    ] = False,
    reflection: Annotated[
        bool, typer.Option("--reflection", help="Serve gRPC server reflection on the ingest port.")
    ] = False,
) -> None:
    """Run the gRPC ingest server (TLS; health on its own plaintext port) and /metrics
    (and the embedded broker when no URL is set)."""
    from netaudit.collector.service import serve as run_service

    ingest = {"insecure": insecure or None, "reflection": reflection or None}
    settings = _settings(ingest={k: v for k, v in ingest.items() if v is not None} or None)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_service(settings, stop)

    asyncio.run(main())


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
) -> None:
    """Run Celery worker processes that execute scans and inventory refreshes."""
    from netaudit.collector.worker import run_worker

    run_worker(_settings(), concurrency)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the store."""
    from netaudit.collector.store import current_revision, upgrade

    settings = _settings()
    upgrade(settings.store_url)
    print(f"store at revision {current_revision(settings.store_url)}")


@inventory_app.command("refresh")
def inventory_refresh(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers.")] = 300,
) -> None:
    """Read every configured subscription from ARM (in the workers) and store it."""
    from netaudit.collector.scanning import refresh_inventory

    clusters = refresh_inventory(_settings(), timeout, _progress)
    print(f"{clusters} cluster(s) read from Azure Resource Manager")


@app.command()
def scan(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the scan.")] = 300,
) -> None:
    """Evaluate the rules over the fleet's facts (in the workers) and print the findings."""
    from netaudit.collector.scanning import run_scan, scan_summary
    from netaudit.collector.store import Store

    settings = _settings()
    store = Store(settings.store_url)
    try:
        record = run_scan(settings, store, timeout, _progress)
        summary = scan_summary(store, record.id)
    finally:
        store.close()
    print(summary)
    print(f"scan {record.id}: {record.clusters} cluster(s), {record.findings} finding(s)")


@app.command()
def report() -> None:
    """Print the open findings from the store, and what the last scans could not assess."""
    from netaudit.collector.reports.coverage import render_not_assessed
    from netaudit.collector.reports.table import render_findings_table
    from netaudit.collector.store import Store

    settings = _settings()
    store = Store(settings.store_url)
    try:
        findings = [stored.finding for stored in store.open_findings()]
        names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
        outcomes = store.outcomes()
    finally:
        store.close()
    print(render_findings_table(findings, names))
    not_assessed = render_not_assessed(outcomes, names)
    if not_assessed:
        print(not_assessed)


@app.command()
def rules() -> None:
    """List the rule catalogue: id, base severity, source (arm, agent, both), title.

    Rules marked "pending" wait for evidence not gathered yet and come out not assessed.
    """
    from netaudit.collector.reports.table import severity_name
    from netaudit.collector.rules import RULES

    for rule in RULES:
        state = "pending" if rule.pending_evidence else ""
        print(
            f"{rule.id:8}  {severity_name(rule.severity):8}  {rule.data_source:5}  "
            f"{state:7}  {rule.title}".rstrip()
        )


ClusterId = Annotated[
    str,
    typer.Argument(
        metavar="CLUSTER_ID",
        help="ARM resource id: /subscriptions/SUB/resourceGroups/RG/providers/"
        "Microsoft.ContainerService/managedClusters/NAME",
    ),
]
CertsDir = Annotated[
    Path | None,
    typer.Option("--dir", help="Folder of the CA and server certificate (default: state_dir/tls)."),
]


def _require_cluster_id(cluster_id: str) -> str:
    from netaudit.collector.ingest.auth import is_aks_cluster_id

    if not is_aks_cluster_id(cluster_id):
        raise UsageError(
            f"{cluster_id[:300]!r} is not an AKS cluster id; give /subscriptions/SUB/"
            "resourceGroups/RG/providers/Microsoft.ContainerService/managedClusters/NAME"
        )
    return cluster_id.strip()


def _token_store() -> Store:
    from netaudit.collector.store import Store

    return Store.open(_settings().store_url)


def _token_line(token: AgentToken) -> str:
    state = "active" if token.active else "revoked"
    revoked = f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "-"
    return (
        f"{token.id:12}  {state:7}  {token.created_at:%Y-%m-%d %H:%M}  {revoked:16}  "
        f"{token.cluster_key}"
    )


@tokens_app.command("create")
def tokens_create(cluster_id: ClusterId) -> None:
    """Make a bearer token for one cluster's agent and print it, once."""
    key = _require_cluster_id(cluster_id)
    with _token_store() as store:
        issued = store.create_agent_token(key)
    print(issued.token)
    print(
        f"token {issued.record.id} for {issued.record.cluster_key}; save it now as the "
        "agent's token file (collector.token_file): it is not shown again",
        file=sys.stderr,
    )


@tokens_app.command("list")
def tokens_list(
    cluster_id: Annotated[
        str | None, typer.Option("--cluster", metavar="CLUSTER_ID", help="Only this cluster's.")
    ] = None,
) -> None:
    """List agent tokens (id, state, created, revoked, cluster); never their values."""
    with _token_store() as store:
        tokens = store.agent_tokens(cluster_id)
    print(f"{'ID':12}  {'STATE':7}  {'CREATED':16}  {'REVOKED':16}  CLUSTER")
    for token in tokens:
        print(_token_line(token))


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id from `tokens list`.")],
) -> None:
    """Revoke a token: streams opened with it from now on are refused (UNAUTHENTICATED)."""
    with _token_store() as store:
        token = store.revoke_agent_token(token_id)
    print(
        f"token {token.id} of {token.cluster_key} revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S}"
    )


def _certs_dir(folder: Path | None) -> Path:
    return folder if folder is not None else _settings().state_dir / "tls"


@certs_app.command("init")
def certs_init(
    folder: CertsDir = None,
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="DNS name or IP of the collector (repeatable; default: localhost, "
            "127.0.0.1, ::1 and this machine's name).",
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Validity of the server certificate.")] = 365,
) -> None:
    """Make a CA and a server certificate for the collector in one folder (keys 0600)."""
    from netaudit.collector.certificates import default_hosts, init_authority

    target = _certs_dir(folder).resolve()
    ca, server = init_authority(target, hosts or default_hosts(), days=days)
    print(f"CA:          {ca.certificate}  (key {ca.key}: keep it private)")
    print(f"server:      {server.certificate}  (key {server.key})")
    print(
        f"collector:   ingest.tls_cert_file={server.certificate} ingest.tls_key_file={server.key}"
    )
    print(f"mutual TLS:  ingest.tls_client_ca_file={ca.certificate}, then `netaudit certs issue`")
    print(f"agents:      collector.tls_root_cert={ca.certificate}")


@certs_app.command("issue")
def certs_issue(
    cluster_id: ClusterId,
    folder: CertsDir = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for client.pem and client-key.pem (default: DIR/clients/NAME)."
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Validity of the certificate.")] = 365,
) -> None:
    """Make a client certificate for one cluster's agent (URI SAN: its ARM resource id)."""
    from netaudit.collector.certificates import CA_CERT_FILE, issue_client_certificate

    key = _require_cluster_id(cluster_id)
    target = _certs_dir(folder).resolve()
    files = issue_client_certificate(target, key, out, days=days)
    print(f"client certificate: {files.certificate}  (key {files.key})")
    print(
        f"agent: collector.tls_client_cert={files.certificate} "
        f"collector.tls_client_key={files.key} collector.tls_root_cert={target / CA_CERT_FILE}"
    )


@app.command()
def sandbox(
    workdir: Annotated[
        Path | None, typer.Option(help="Where kubeconfigs, the CA and sandbox.json go.")
    ] = None,
) -> None:
    """Run the sandbox fleet (Kubernetes API per cluster, ARM, DNS) on loopback until Ctrl-C."""
    from netaudit.sandbox.runner import start_sandbox

    logs.configure("INFO", "auto")
    folder = workdir or Path(tempfile.mkdtemp(prefix="netaudit-sandbox-"))
    with start_sandbox(folder) as running:
        print(f"ARM:  {running.arm_url}  (CA {running.ca_pem})")
        print(f"DNS:  {running.dns_server}")
        for cluster in running.clusters:
            print(f"{cluster.name}: kubectl --server={cluster.kube_url} get nodes,pods -A")
        print(f"endpoints: {folder / 'sandbox.json'}; Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@app.command()
def demo(
    serve_forever: Annotated[
        bool, typer.Option("--serve", help="Keep everything running until Ctrl-C.")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Working folder (default: a new temporary one).")
    ] = None,
) -> None:
    """Run the whole path on the sandbox fleet: agents, collector, worker, one scan."""
    from netaudit.collector.demo import run_demo

    logs.configure("WARNING", "text")
    raise typer.Exit(run_demo(workdir, serve_forever, _progress))


def main() -> None:
    try:
        app()
    except NetauditError as exc:
        if _Options.debug:
            raise
        print(f"netaudit: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
