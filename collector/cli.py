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
from typing import Annotated

import typer

from netaudit.collector import logs
from netaudit.collector.config import Settings, load_settings
from netaudit.collector.errors import NetauditError

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
app.add_typer(db_app, name="db")
app.add_typer(inventory_app, name="inventory")


class _Options:
    debug = False
    config: Path | None = None
    state_dir: Path | None = None
    log_level: str | None = None


def _settings() -> Settings:
    settings = load_settings(
        _Options.config, state_dir=_Options.state_dir, log_level=_Options.log_level
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
def serve() -> None:
    """Run the gRPC ingest server and /metrics (and the embedded broker when no URL is set)."""
    from netaudit.collector.service import serve as run_service

    settings = _settings()

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
