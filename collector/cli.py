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
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from netaudit.collector import logs
from netaudit.collector.cli_conventions import Command, apply_conventions, package_version
from netaudit.collector.config import Settings, load_settings
from netaudit.collector.config_cli import config_app
from netaudit.collector.errors import EXIT_CODES, ConfigError, NetauditError, UsageError

if TYPE_CHECKING:
    from netaudit.collector.reports.changes import Changes
    from netaudit.collector.reports.model import Report
    from netaudit.collector.reports.waivers import Waiver
    from netaudit.collector.store import AdminToken, AgentToken, Store

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
app.add_typer(config_app, name="config")
ip_app = typer.Typer(
    help="IP capacity of every range (node and pod subnets, pod and service CIDRs, VNets): "
    "use, need at max scale plus surge, days to full; `ip plan` checks a growth.",
    invoke_without_command=True,
)
app.add_typer(ip_app, name="ip")


class _Options:
    debug = False
    config: Path | None = None
    state_dir: Path | None = None
    log_level: str | None = None


GLOBAL_OPTIONS = ("config", "state_dir", "log_level", "debug")
"""The root's options that every subcommand accepts too (`netaudit rules --config x`)."""


def _remember_global(name: str, value: Any) -> None:
    setattr(_Options, name, value)


def _settings(**flags: Any) -> Settings:
    settings = load_settings(
        _Options.config, state_dir=_Options.state_dir, log_level=_Options.log_level, **flags
    )
    logs.configure(settings.log_level, settings.log_format)
    return settings


def _writable_state_dir(settings: Settings) -> Settings:
    """``settings`` once their state folder exists and takes a new file; a ConfigError
    naming the folder otherwise (read-only, not ours, a file in the way)."""
    folder = settings.state_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(
            f"state folder {folder} is not writable ({exc.strerror or exc}): fix its "
            "permissions, or choose another with --state-dir or NETAUDIT_STATE_DIR"
        ) from exc
    return settings


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP stop the block in order (see `stop_on_signals`); a stop
    before the command's normal end exits 128 + the signal's number, as a shell reports it."""
    from netaudit.collector.processes import StopRequested, stop_on_signals

    with stop_on_signals():
        try:
            yield
        except StopRequested as stop:
            raise typer.Exit(128 + stop.signum) from None


def _progress(message: str) -> None:
    print(f"• {message}", file=sys.stderr, flush=True)


def _print_version(value: bool) -> None:
    if value:
        print(f"netaudit {package_version()}")
        raise typer.Exit()


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
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
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
    settings = _writable_state_dir(
        _settings(ingest={k: v for k, v in ingest.items() if v is not None} or None)
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await run_service(settings, stop)

    asyncio.run(main())


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
) -> None:
    """Run Celery worker processes that execute scans and inventory refreshes.

    Exits 3 when the broker does not answer within 10 s of the start."""
    from netaudit.collector.worker import run_worker

    run_worker(_settings(), concurrency)


BEAT_HELP = (
    "Start scans and inventory refreshes on the intervals of `schedule:` (exactly one beat "
    "per deployment); the workers run them as `netaudit scan` and `netaudit inventory "
    "refresh` do.\n\n"
    "Run exactly one beat per deployment: each beat sends its own triggers, so two would "
    "scan twice as often (a second beat on the same state folder refuses to start). Its "
    "schedule state is state_dir/celerybeat-schedule; SIGTERM or Ctrl-C saves it and stops."
)


@app.command(help=BEAT_HELP)
def beat() -> None:
    from netaudit.collector.beat import check_schedule, sole_beat
    from netaudit.collector.worker import run_beat

    settings = _settings()
    check_schedule(settings)
    # Celery replaces the SIGTERM and SIGINT handlers once beat runs; until then, and for
    # SIGHUP throughout, these stop it and the schedule is saved all the same.
    with _stopped_by_signals(), sole_beat(settings.state_dir):
        run_beat(settings)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the store."""
    from netaudit.collector.store import current_revision, upgrade

    settings = _settings()
    if not settings.store.url:  # the default store is a file in the state folder
        _writable_state_dir(settings)
    upgrade(settings.store_url)
    print(f"store at revision {current_revision(settings.store_url)}")


@inventory_app.command("refresh")
def inventory_refresh(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers.")] = 300,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Read every cluster's details again, not only those whose lastModifiedAt "
            "or provisioning state changed since the last refresh.",
        ),
    ] = False,
) -> None:
    """Read every configured subscription from ARM (in the workers) and store it."""
    from netaudit.collector.scanning import refresh_inventory

    clusters = refresh_inventory(_settings(), timeout, _progress, full)
    print(f"{clusters} cluster(s) read from Azure Resource Manager")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"
    sarif = "sarif"


class FailOn(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


FormatOption = Annotated[
    ReportFormat, typer.Option("--format", "-f", help="How the report is written.")
]
FailOnOption = Annotated[
    FailOn | None,
    typer.Option(
        "--fail-on",
        help="Exit 1 when a finding at or above this severity remains (for CI); 0 otherwise.",
    ),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
]
WaiversOption = Annotated[
    Path | None,
    typer.Option(
        "--waivers",
        metavar="FILE",
        help="YAML file of accepted findings (default: reports.waivers_file): they are "
        "reported as waived until their expiry date and --fail-on ignores them.",
    ),
]


def load_waivers(waivers_file: Path | None, settings: Settings) -> tuple[Waiver, ...]:
    """The waivers of --waivers, else of reports.waivers_file (none when neither is set);
    read before any work so that a bad entry fails at once."""
    from netaudit.collector.reports.waivers import load_waivers as read_waivers
    from netaudit.collector.rules import RULES_BY_ID

    path = waivers_file or settings.reports.waivers_file
    return () if path is None else read_waivers(path, RULES_BY_ID)


def waived(report: Report, waivers: tuple[Waiver, ...]) -> Report:
    """The report with the waivers applied as of today (UTC); one warning line on stderr
    per expired waiver still matching and per waiver that matched nothing."""
    if not waivers:
        return report
    from datetime import UTC, datetime

    from netaudit.collector.reports.waivers import apply_waivers, waiver_warnings

    result = apply_waivers(report, waivers, datetime.now(UTC).date())
    for line in waiver_warnings(result):
        print(f"netaudit: warning: {line}", file=sys.stderr)
    return result


def write_report(report: Report, report_format: ReportFormat, output: Path | None) -> None:
    """The report in ``report_format`` on stdout, or in ``output``."""
    from netaudit.collector.reports.formats import render

    _write_text(render(report, report_format.value), output)


def exit_for(report: Report, fail_on: FailOn | None) -> None:
    """Exit 1 when ``--fail-on`` is set and a finding at or above it remains."""
    if fail_on is None:
        return
    failing = report.at_or_above(fail_on.value)
    if failing:
        print(f"netaudit: {len(failing)} finding(s) at or above {fail_on.value}", file=sys.stderr)
        raise typer.Exit(1)


@app.command()
def scan(
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for the scan. Default: scan.deadline_seconds (300 s), when "
            "an unfinished scan is marked failed; a task lost with a killed worker is back "
            "within the broker's visibility timeout (150 s by default).",
            show_default=False,
        ),
    ] = None,
    report_format: FormatOption = ReportFormat.table,
    fail_on: FailOnOption = None,
    output: OutputOption = None,
    waivers_file: WaiversOption = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="First ask every connected agent (or those of --cluster) for a fresh report "
            "over its open stream, through the collector's admin service (admin.* settings), "
            "and wait until each answered or --fresh-timeout passed; stderr then names the "
            "clusters that answered, timed out, or were not connected.",
        ),
    ] = False,
    clusters: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster",
            metavar="CLUSTER_ID",
            help="With --fresh: ask only this cluster's agent (repeatable).",
        ),
    ] = None,
    fresh_timeout: Annotated[
        float | None,
        typer.Option(
            "--fresh-timeout",
            min=1,
            max=3600,
            metavar="SECONDS",
            help="With --fresh: how long to wait for the answers. Default: "
            "admin.fresh_timeout_seconds (60 s).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Evaluate the rules over the fleet's facts (in the workers) and print the findings."""
    from netaudit.collector.reports.table import waiver_marks
    from netaudit.collector.scanning import run_scan, scan_summary, stored_report
    from netaudit.collector.store import Store

    settings = _settings()
    waivers = load_waivers(waivers_file, settings)
    fresh_summary: list[str] = []
    if fresh:
        from netaudit.collector.fresh_reports import fresh_reports, summary_lines

        cluster_ids = [_require_cluster_id(cluster_id) for cluster_id in clusters or []]
        outcome = fresh_reports(settings, cluster_ids, fresh_timeout, _progress)
        fresh_summary = summary_lines(outcome)
    elif clusters or fresh_timeout is not None:
        raise UsageError("--cluster and --fresh-timeout go with --fresh")
    store = Store.open(settings.store_url)
    try:
        record = run_scan(settings, store, timeout, _progress)
        report = waived(stored_report(store), waivers)
        summary = scan_summary(store, record.id, waiver_marks(report))
    finally:
        store.close()
    done = f"scan {record.id}: {record.clusters} cluster(s), {record.findings} finding(s)"
    if report_format is ReportFormat.table and output is None:
        print(summary.findings)
    else:
        write_report(report, report_format, output)
    print(summary.totals, file=sys.stderr)
    for line in fresh_summary:
        print(line, file=sys.stderr)
    print(done, file=sys.stderr)
    exit_for(report, fail_on)


def _write_since(changes: Changes, report_format: ReportFormat, output: Path | None) -> None:
    from netaudit.collector.reports.changes import render_changes_json, render_changes_table

    render = render_changes_json if report_format is ReportFormat.json else render_changes_table
    _write_text(render(changes), output)


@app.command()
def report(
    report_format: FormatOption = ReportFormat.table,
    fail_on: FailOnOption = None,
    output: OutputOption = None,
    waivers_file: WaiversOption = None,
    since: Annotated[
        int | None,
        typer.Option(
            "--since",
            metavar="SCAN",
            help="Show the findings new, resolved and still open since this scan id "
            "(`netaudit scan` prints it); --format table or json.",
        ),
    ] = None,
) -> None:
    """Print the open findings from the store, and what the last scans could not assess."""
    from netaudit.collector.reports.coverage import render_not_assessed
    from netaudit.collector.reports.table import render_findings_table, waiver_marks
    from netaudit.collector.scanning import changes_since, stored_report
    from netaudit.collector.store import Store

    if since is not None and report_format not in (ReportFormat.table, ReportFormat.json):
        raise UsageError(f"--since writes table or json, not {report_format.value}")
    settings = _settings()
    waivers = load_waivers(waivers_file, settings)
    store = Store.open(settings.store_url)
    try:
        stored = waived(stored_report(store), waivers)
        changes = changes_since(store, since, stored) if since is not None else None
        findings = [found.finding for found in store.open_findings()]
        names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
        outcomes = store.outcomes()
    finally:
        store.close()
    if changes is not None:
        _write_since(changes, report_format, output)
    elif report_format is ReportFormat.table and output is None:
        print(render_findings_table(findings, names, waiver_marks(stored)))
        not_assessed = render_not_assessed(outcomes, names)
        if not_assessed:
            print(not_assessed)
    else:
        write_report(stored, report_format, output)
    exit_for(stored, fail_on)


rules_app = typer.Typer(
    help="The rule catalogue; `rules show ID` explains one rule.", invoke_without_command=True
)
app.add_typer(rules_app, name="rules")


@rules_app.callback()
def rules(ctx: typer.Context) -> None:
    """List the rule catalogue: id, base severity, source (arm, agent, both), title and the
    data each needs.

    Rules marked "pending" wait for evidence not gathered yet and come out not assessed.
    """
    if ctx.invoked_subcommand is not None:
        return
    from netaudit.collector.reports.rule_sheet import render_rule_list
    from netaudit.collector.rules import RULES

    _settings()  # a --config that does not exist or does not load is an error here too
    print(render_rule_list(RULES))


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(metavar="ID", help="A rule id, e.g. CNI-001.")],
) -> None:
    """One rule in full: severity, source, the data it needs, rationale, condition,
    thresholds (with the configured values), remediation and references."""
    from netaudit.collector.reports.rule_sheet import nearest_rule_ids, render_rule_sheet
    from netaudit.collector.rules import RULES_BY_ID

    rule = RULES_BY_ID.get(rule_id.strip().upper())
    if rule is None:
        nearest = nearest_rule_ids(rule_id, RULES_BY_ID)
        hint = f"; nearest: {', '.join(nearest)}" if nearest else "; `netaudit rules` lists them"
        raise UsageError(f"unknown rule {rule_id[:40]!r}{hint}")
    print(render_rule_sheet(rule, _settings().rules))


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


def _token_line(token: AgentToken | AdminToken, owner: str) -> str:
    state = "active" if token.active else "revoked"
    revoked = f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "-"
    return f"{token.id:12}  {state:7}  {token.created_at:%Y-%m-%d %H:%M}  {revoked:16}  {owner}"


@tokens_app.command("create")
def tokens_create(
    cluster_id: Annotated[
        str | None,
        typer.Argument(
            metavar="CLUSTER_ID",
            help="ARM resource id of the agent's cluster: /subscriptions/SUB/resourceGroups/"
            "RG/providers/Microsoft.ContainerService/managedClusters/NAME",
            show_default=False,
        ),
    ] = None,
    admin: Annotated[
        str | None,
        typer.Option(
            "--admin",
            metavar="NAME",
            help="Make an admin token instead, named NAME: it calls the collector's admin "
            "service (`scan --fresh`), never writes reports.",
        ),
    ] = None,
) -> None:
    """Make a bearer token for one cluster's agent (or --admin) and print it, once."""
    if (cluster_id is None) == (admin is None):
        raise UsageError("give either CLUSTER_ID (an agent token) or --admin NAME")
    if admin is not None:
        with _token_store() as store:
            issued_admin = store.create_admin_token(admin)
        print(issued_admin.token)
        print(
            f"admin token {issued_admin.record.id} ({issued_admin.record.name}); save it now "
            "as admin.token_file: it is not shown again",
            file=sys.stderr,
        )
        return
    assert cluster_id is not None
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
    """List tokens (id, state, created, revoked, cluster or admin:NAME); never their values."""
    with _token_store() as store:
        tokens = store.agent_tokens(cluster_id)
        admins = store.admin_tokens() if cluster_id is None else []
    print(f"{'ID':12}  {'STATE':7}  {'CREATED':16}  {'REVOKED':16}  CLUSTER")
    for token in tokens:
        print(_token_line(token, token.cluster_key))
    for admin in admins:
        print(_token_line(admin, f"admin:{admin.name}"))


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id from `tokens list`.")],
) -> None:
    """Revoke a token: calls made with it from now on are refused (UNAUTHENTICATED)."""
    from netaudit.collector.store import UnknownToken

    with _token_store() as store:
        try:
            token = store.revoke_agent_token(token_id)
        except UnknownToken:
            admin = store.revoke_admin_token(token_id)
            if admin is None:
                raise
            print(
                f"admin token {admin.id} ({admin.name}) revoked at "
                f"{admin.revoked_at:%Y-%m-%d %H:%M:%S}"
            )
            return
    print(
        f"token {token.id} of {token.cluster_key} revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S}"
    )


def _certs_dir(folder: Path | None) -> Path:
    return folder if folder is not None else _writable_state_dir(_settings()).state_dir / "tls"


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
    cluster_id: Annotated[
        str | None,
        typer.Argument(
            metavar="CLUSTER_ID",
            help="ARM resource id of the agent's cluster: /subscriptions/SUB/resourceGroups/"
            "RG/providers/Microsoft.ContainerService/managedClusters/NAME",
            show_default=False,
        ),
    ] = None,
    folder: CertsDir = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for client.pem and client-key.pem (default: DIR/clients/NAME, "
            "DIR/admins/NAME with --admin).",
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Validity of the certificate.")] = 365,
    admin: Annotated[
        str | None,
        typer.Option(
            "--admin",
            metavar="NAME",
            help="Make an operator's certificate instead (URI SAN netaudit:admin, common "
            "name NAME): the admin credential of `scan --fresh` under mutual TLS.",
        ),
    ] = None,
) -> None:
    """Make a client certificate for one cluster's agent (URI SAN: its ARM resource id),
    or with --admin for an operator."""
    from netaudit.collector.certificates import (
        CA_CERT_FILE,
        issue_admin_certificate,
        issue_client_certificate,
    )

    if (cluster_id is None) == (admin is None):
        raise UsageError("give either CLUSTER_ID (an agent certificate) or --admin NAME")
    target = _certs_dir(folder).resolve()
    if admin is not None:
        files = issue_admin_certificate(target, admin, out, days=days)
        print(f"admin certificate: {files.certificate}  (key {files.key})")
        print(
            f"netaudit: admin.tls_client_cert={files.certificate} "
            f"admin.tls_client_key={files.key} admin.tls_root_cert={target / CA_CERT_FILE}"
        )
        return
    assert cluster_id is not None
    key = _require_cluster_id(cluster_id)
    files = issue_client_certificate(target, key, out, days=days)
    print(f"client certificate: {files.certificate}  (key {files.key})")
    print(
        f"agent: collector.tls_client_cert={files.certificate} "
        f"collector.tls_client_key={files.key} collector.tls_root_cert={target / CA_CERT_FILE}"
    )


@app.command()
def sandbox(
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Where kubeconfigs, the CA and sandbox.json go (default: a temporary "
            "folder, removed at exit)."
        ),
    ] = None,
    arm_throttling: Annotated[
        bool,
        typer.Option(
            help="Throttle ARM as Azure documents it (reads 250 burst / 25 per s per "
            "principal and subscription, the AKS provider's own buckets): 429 with "
            "Retry-After past them."
        ),
    ] = False,
) -> None:
    """Run the sandbox fleet (Kubernetes API per cluster, ARM, DNS) on loopback until Ctrl-C
    or SIGTERM."""
    import shutil

    from netaudit.sandbox.arm_throttle import ArmThrottle
    from netaudit.sandbox.runner import start_sandbox

    logs.configure("INFO", "auto")
    folder = workdir or Path(tempfile.mkdtemp(prefix="netaudit-sandbox-"))
    throttle = ArmThrottle() if arm_throttling else None
    try:
        with _stopped_by_signals(), start_sandbox(folder, arm_throttle=throttle) as running:
            try:
                print(f"ARM:  {running.arm_url}  (CA {running.ca_pem})")
                print(f"DNS:  {running.dns_server}")
                for cluster in running.clusters:
                    print(f"{cluster.name}: kubectl --server={cluster.kube_url} get nodes,pods -A")
                print(f"endpoints: {folder / 'sandbox.json'}; Ctrl-C stops", flush=True)
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("sandbox stopped", flush=True)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)


@app.command()
def demo(
    serve_forever: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Keep the collector, its /metrics, the worker and the agents running until "
            "Ctrl-C or SIGTERM.",
        ),
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Working folder, kept (default: a new temporary one, removed at exit)."),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep", help="Keep the temporary working folder (logs, store, configuration)."
        ),
    ] = False,
    report_interval: Annotated[
        float,
        typer.Option(
            min=1, metavar="SECONDS", help="Seconds between the agents' reports while --serve runs."
        ),
    ] = 30.0,
) -> None:
    """Run the whole path on the sandbox fleet: agents, collector, worker, one scan."""
    from netaudit.collector.demo import DemoOptions, run_demo

    logs.configure("WARNING", "text")
    options = DemoOptions(workdir, serve_forever, keep, report_interval)
    with _stopped_by_signals():
        code = run_demo(options, _progress)
    raise typer.Exit(code)


def command_line(root: typer.Typer = app) -> Command:
    """The click command tree of ``root``, every command following the conventions (global
    options after the subcommand too, -h, readable metavars, exit codes in --help)."""
    command = typer.main.get_command(root)
    apply_conventions(command, GLOBAL_OPTIONS, _remember_global, EXIT_CODES)
    return command


def run(root: typer.Typer = app) -> None:
    """Run a command line whose root is ``root``: a NetauditError is one line and its exit code."""
    command = command_line(root)
    try:
        command(prog_name="netaudit")
    except NetauditError as exc:
        if _Options.debug:
            raise
        print(f"netaudit: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def main() -> None:
    """The collector's commands alone (``python -m netaudit.collector``); the ``netaudit``
    command is netaudit.audit.cli, which mounts them with ``audit``."""
    run(app)


if __name__ == "__main__":
    main()


class RangeFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@ip_app.callback()
def ip(
    ctx: typer.Context,
    cluster: Annotated[
        str | None, typer.Option(help="One cluster, by ARM id or name (default: the fleet).")
    ] = None,
    range_format: Annotated[
        RangeFormat, typer.Option("--format", "-f", help="table, json or csv.")
    ] = RangeFormat.table,
    output: OutputOption = None,
) -> None:
    """Every range with its capacity, use, need at max scale and days to full, the ranges
    closest to full first (days to full, then utilisation)."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import UTC, datetime

    from netaudit.collector.reports import ip_ranges
    from netaudit.collector.scanning import fleet_ranges
    from netaudit.collector.store import Store

    settings = _settings()
    store = Store.open(settings.store_url)
    try:
        rows = fleet_ranges(store, cluster, datetime.now(UTC))
    finally:
        store.close()
    render = {
        RangeFormat.table: ip_ranges.render_table,
        RangeFormat.json: ip_ranges.render_json,
        RangeFormat.csv: ip_ranges.render_csv,
    }[range_format]
    _write_text(render(rows), output)


@ip_app.command("plan")
def ip_plan(
    cluster: Annotated[str, typer.Option(help="The cluster, by ARM id or name.")],
    nodes: Annotated[int, typer.Option(min=1, help="Nodes the pool should reach.")],
    max_pods: Annotated[
        int | None,
        typer.Option(min=1, max=250, help="maxPods of the grown pool (default: its own)."),
    ] = None,
    pool: Annotated[str | None, typer.Option(help="The pool (default: the first).")] = None,
) -> None:
    """Can a pool grow to N nodes? Per range it uses: the arithmetic, and when it does not
    fit, the smallest subnet or pod CIDR prefix that would. Exit 1 when it does not fit."""
    from netaudit.collector.reports.ip_ranges import render_plan
    from netaudit.collector.scanning import growth_plan
    from netaudit.collector.store import Store

    settings = _settings()
    store = Store.open(settings.store_url)
    try:
        name, pool_name, plans = growth_plan(store, cluster, nodes, max_pods, pool)
    finally:
        store.close()
    print(render_plan(name, pool_name, plans))
    if not all(plan.fits for plan in plans):
        raise typer.Exit(1)


def _write_text(text: str, output: Path | None) -> None:
    if not text.endswith("\n"):
        text += "\n"
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write to {output}: {exc.strerror or exc}") from exc
