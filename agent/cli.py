"""``netaudit-agent``: gather network evidence in a cluster and stream it to the collector.

Exit codes: 0 ok; 2 bad configuration or input; 3 the collector could not be reached
or refused the report (it stays in the spool).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from typer import _click
from typer.core import TyperArgument, TyperOption

from netaudit.agent import logs
from netaudit.agent.config import AgentSettings, load_settings
from netaudit.agent.dump import load_dump, read_cluster_id, report_from_dump
from netaudit.agent.errors import (
    AgentError,
    CollectorUnreachable,
    ConfigError,
)
from netaudit.agent.report import build_report, cluster_identity
from netaudit.agent.runner import connect_kube, run
from netaudit.agent.summary import read_report, report_to_json, summarize, write_report
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

USAGE_EXIT_CODE = 2
COLLECTOR_UNAVAILABLE_EXIT_CODE = 3
EXIT_CODES = (
    "Exit codes: 0 ok; 2 usage or configuration; 3 the collector unreachable or refusing the "
    "report (unsent reports stay in the spool)."
)
HELP_OPTION_NAMES = ["-h", "--help"]

app = typer.Typer(
    name="netaudit-agent",
    help=(
        "In-cluster agent of aks-netaudit. Reads networking evidence from the Kubernetes API "
        "(read-only), probes DNS, and streams one report at a time to the collector. Flags win "
        "over NETAUDIT_* environment variables (nested with __, e.g. NETAUDIT_COLLECTOR__ADDRESS; "
        "lists as JSON or comma-separated, e.g. NETAUDIT_DNS__EXTRA_PROBE_NAMES=a.test,b.test), "
        "which win over defaults. Unknown variables and other mistakes are reported at once, one "
        "line each, exit code 2."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
)


def _print_version(value: bool) -> None:
    if value:
        try:
            version = metadata.version("aks-netaudit")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        typer.echo(f"netaudit-agent {version}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The commands below; --version prints the version."""


Kubeconfig = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="kubeconfig file. Default: the Pod's service account in a cluster, else "
        "$KUBECONFIG or ~/.kube/config.",
        show_default=False,
        metavar="FILE",
    ),
]
Context = Annotated[
    str | None, typer.Option("--context", help="kubeconfig context to use.", metavar="NAME")
]
ClusterId = Annotated[
    str | None,
    typer.Option(
        "--cluster-id",
        help="ARM resource id of the AKS cluster; the collector joins reports to Azure by it.",
        metavar="ARM_ID",
    ),
]
ClusterName = Annotated[
    str | None,
    typer.Option(
        "--cluster-name", help="Cluster name (default: last part of --cluster-id).", metavar="NAME"
    ),
]
Region = Annotated[
    str | None, typer.Option("--region", help="Azure region of the cluster.", metavar="REGION")
]
DnsServer = Annotated[
    str | None,
    typer.Option(
        "--dns-server",
        help="DNS server to probe, HOST:PORT. Default: the Pod's resolver (CoreDNS) in a cluster; "
        "outside a cluster no probes run unless this is given.",
        metavar="HOST:PORT",
    ),
]
DnsProbe = Annotated[
    list[str] | None,
    typer.Option(
        "--dns-probe",
        help="Extra name to resolve, e.g. the private API server FQDN (repeatable); "
        "kubernetes.default.svc.cluster.local is always probed.",
        metavar="NAME",
    ),
]
TlsRootCert = Annotated[
    Path | None,
    typer.Option(
        "--tls-root-cert",
        help="PEM CA that signed the collector's certificate; turns on TLS.",
        metavar="FILE",
    ),
]
TlsServerName = Annotated[
    str | None,
    typer.Option(
        "--tls-server-name",
        help="Name to verify in the collector's certificate when it differs from HOST.",
        metavar="NAME",
    ),
]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help="File holding this cluster's bearer token (`netaudit tokens create`); re-read "
        "at every connect.",
        metavar="FILE",
    ),
]
TlsClientCert = Annotated[
    Path | None,
    typer.Option(
        "--tls-client-cert",
        help="PEM client certificate naming this cluster (`netaudit certs issue`), for mutual TLS.",
        metavar="FILE",
    ),
]
TlsClientKey = Annotated[
    Path | None,
    typer.Option("--tls-client-key", help="PEM key of --tls-client-cert.", metavar="FILE"),
]
LogLevel = Annotated[
    str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.", metavar="LEVEL")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


def _overrides(**groups: dict[str, Any]) -> dict[str, Any]:
    """Nested settings from flags, leaving out flags that were not given."""
    nested: dict[str, Any] = {}
    for group, values in groups.items():
        given = {k: v for k, v in values.items() if v is not None and v != []}
        if given:
            nested[group] = given
    return nested


def _settings(log_level: str | None, **groups: dict[str, Any]) -> AgentSettings:
    overrides = _overrides(**groups)
    if log_level:
        overrides["log_level"] = log_level.upper()
    settings = load_settings(overrides)
    logs.configure(settings.log_level, settings.log_format)
    return settings


def _cluster_groups(
    kubeconfig: Path | None,
    context: str | None,
    cluster_id: str | None,
    cluster_name: str | None,
    region: str | None,
    dns_server: str | None,
    dns_probe: list[str] | None,
) -> dict[str, dict[str, Any]]:
    """The settings groups every command that reads a cluster takes from its flags."""
    return {
        "kube": {"kubeconfig": kubeconfig, "context": context},
        "cluster": {"id": cluster_id, "name": cluster_name, "region": region},
        "dns": {"server": dns_server, "extra_probe_names": dns_probe},
    }


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"netaudit-agent: {message}", err=True)
    raise typer.Exit(code)


def _guarded(debug: bool, action: Callable[[], None]) -> None:
    """Run a command: user errors end in one line and an exit code, tracebacks only with --debug."""
    try:
        action()
    except CollectorUnreachable as error:
        if debug:
            raise
        _fail(f"error: {error} (unsent reports stay in the spool)", COLLECTOR_UNAVAILABLE_EXIT_CODE)
    except AgentError as error:
        if debug:
            raise
        _fail(f"error: {error}", USAGE_EXIT_CODE)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set. The handler only sets it: a handler that wrote the
    log line itself ran while the main thread was inside a write to stderr, the nested
    write raised, the event was never set and the agent never stopped. A thread logs."""
    stop = threading.Event()
    received: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    def log_the_signal() -> None:
        stop.wait()
        if received:
            log.info("received %s, stopping", signal.Signals(received[0]).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    threading.Thread(target=log_the_signal, name="netaudit-signal-log", daemon=True).start()
    return stop


@app.command("run")
def run_command(
    collector: Annotated[
        str | None,
        typer.Option("--collector", help="Collector gRPC address.", metavar="HOST:PORT"),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    cluster_id: ClusterId = None,
    cluster_name: ClusterName = None,
    region: Region = None,
    dns_server: DnsServer = None,
    dns_probe: DnsProbe = None,
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            "--spool-dir",
            help="Where unsent reports wait for the collector's ack (survives restarts).",
            metavar="DIR",
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            "--ledger",
            help="Append a JSON line per report produced, sent, acked or dropped (delivery "
            "accounting).",
            metavar="FILE",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Send one report, wait for its ack, exit 0 (3 if unreachable)."
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval", help="Seconds between reports (default 300).", metavar="SECONDS"
        ),
    ] = None,
    health_address: Annotated[
        str | None,
        typer.Option(
            "--health-address",
            help="Address of /healthz and /metrics (default 127.0.0.1; the pod IP or 0.0.0.0 "
            "for kubelet probes and scrapes).",
            metavar="ADDRESS",
        ),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            "--health-port",
            help="Port of /healthz and /metrics (default 9102; 0 turns them off). Not served "
            "with --once.",
            metavar="PORT",
        ),
    ] = None,
    tls_root_cert: TlsRootCert = None,
    tls_server_name: TlsServerName = None,
    token_file: TokenFile = None,
    tls_client_cert: TlsClientCert = None,
    tls_client_key: TlsClientKey = None,
    log_level: LogLevel = None,
    debug: Debug = False,
) -> None:
    """Gather a report, keep it in the spool, stream it to the collector; repeat every interval."""

    def action() -> None:
        settings = _settings(
            log_level,
            **_cluster_groups(
                kubeconfig, context, cluster_id, cluster_name, region, dns_server, dns_probe
            ),
            collector={
                "address": collector,
                "tls_root_cert": tls_root_cert,
                "tls_server_name": tls_server_name,
                "token_file": token_file,
                "tls_client_cert": tls_client_cert,
                "tls_client_key": tls_client_key,
            },
            spool={"dir": spool_dir, "ledger": ledger},
            gather={"interval_seconds": interval},
            health={"address": health_address, "port": health_port},
        )
        run(settings, once=once, stop=None if once else _stop_on_signals())

    _guarded(debug, action)


@app.command("snapshot")
def snapshot_command(
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Report file: JSON if it ends in .json, else binary protobuf.",
            metavar="FILE",
        ),
    ],
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    cluster_id: ClusterId = None,
    cluster_name: ClusterName = None,
    region: Region = None,
    dns_server: DnsServer = None,
    dns_probe: DnsProbe = None,
    from_dump: Annotated[
        Path | None,
        typer.Option(
            "--from-dump",
            help="Read the cluster from a folder of `kubectl get ... -o json` files instead of "
            "its API server (no DNS probes, pod logs or metrics); a `cluster-id` file in it "
            "gives the ARM id.",
            metavar="DIR",
        ),
    ] = None,
    log_level: LogLevel = None,
    debug: Debug = False,
) -> None:
    """Gather one report and write it to a file (no collector involved)."""

    def action() -> None:
        if from_dump is not None:
            live: dict[str, Any] = {"--kubeconfig": kubeconfig, "--context": context}
            live |= {"--dns-server": dns_server, "--dns-probe": dns_probe}
            report = _snapshot_from_dump(
                from_dump, log_level, live, cluster_id, cluster_name, region
            )
        else:
            settings = _settings(
                log_level,
                **_cluster_groups(
                    kubeconfig, context, cluster_id, cluster_name, region, dns_server, dns_probe
                ),
            )
            with connect_kube(settings) as kube:
                report = build_report(kube, cluster_identity(settings.cluster), settings)
        try:
            write_report(report, output)
        except OSError as error:
            _fail(f"error: cannot write {output}: {error.strerror or error}", USAGE_EXIT_CODE)
        typer.echo(f"wrote report {report.report_id} to {output} ({len(report.gaps)} gaps)")

    _guarded(debug, action)


def _snapshot_from_dump(
    folder: Path,
    log_level: str | None,
    live: dict[str, Any],
    cluster_id: str | None,
    cluster_name: str | None,
    region: str | None,
) -> report_pb2.Report:
    """A report from a dump folder; its ``cluster-id`` file stands in for --cluster-id and
    its folder name for --cluster-name."""
    given = [flag for flag, value in live.items() if value]
    if given:
        raise ConfigError(f"--from-dump reads no live cluster: drop {', '.join(given)}")
    cluster_id = cluster_id or read_cluster_id(folder) or None
    name = cluster_name or (None if cluster_id else folder.resolve().name)
    settings = _settings(log_level, cluster={"id": cluster_id, "name": name, "region": region})
    dump = load_dump(folder)
    return report_from_dump(dump, cluster_identity(settings.cluster), settings.gather)


@app.command("inspect")
def inspect_command(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="Report file written by `snapshot` (.pb or .json)."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole report as JSON.")
    ] = False,
    debug: Debug = False,
) -> None:
    """Print a summary of a report file (or the whole report with --json)."""

    def action() -> None:
        report = read_report(file)
        typer.echo(report_to_json(report) if as_json else "\n".join(summarize(report)))

    _guarded(debug, action)


def _commands(command: _click.Command) -> Iterator[_click.Command]:
    yield command
    for child in getattr(command, "commands", {}).values():
        yield from _commands(child)


def command_line() -> _click.Command:
    """The command tree with the conventions the collector's `netaudit` follows too: a flag
    shows no type (Typer would show <bool>), and every --help ends with the exit codes."""
    root = typer.main.get_command(app)
    for command in _commands(root):
        ctx = _click.Context(command, help_option_names=HELP_OPTION_NAMES)
        flags = [p for p in command.params if isinstance(p, TyperOption) and p.is_flag]
        for option in [*flags, command.get_help_option(ctx)]:
            if option is not None and option.metavar is None:
                option.metavar = ""
        for argument in command.params:
            if isinstance(argument, TyperArgument) and argument.metavar:
                argument.__class__ = _NamedArgument
        command.epilog = command.epilog or EXIT_CODES
    return root


class _NamedArgument(TyperArgument):
    """An argument whose metavar (FILE) says what it is: no <path> beside it."""

    def display_type_rich(self, ctx: _click.Context) -> str | None:
        return None


def main() -> None:
    command_line()(prog_name="netaudit-agent")


if __name__ == "__main__":
    main()
