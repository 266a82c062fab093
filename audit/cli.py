"""`netaudit`: the root of the command line.

It mounts every command of the collector (netaudit.collector.cli, unchanged) and adds
``audit``, the offline audit of exported files, which needs both the agent's gatherers
and the collector's rules; the collector never imports this module.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from netaudit.collector import cli as collector_cli
from netaudit.collector import logs
from netaudit.collector.cli import (
    FailOnOption,
    FormatOption,
    OutputOption,
    ReportFormat,
    WaiversOption,
)
from netaudit.collector.errors import UsageError


def _root() -> typer.Typer:
    """A new root holding the collector's global options, commands and groups."""
    root = typer.Typer(
        name="netaudit",
        help=(
            "Audit the networking of a fleet of AKS clusters: ingest agent reports, read ARM, "
            "run compliance rules on Celery workers, export Prometheus metrics, or audit "
            "exported files offline (netaudit audit)."
        ),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    source = collector_cli.app
    root.registered_callback = source.registered_callback
    root.registered_commands = list(source.registered_commands)
    root.registered_groups = list(source.registered_groups)
    return root


app = _root()


@app.command()
def audit(
    arm: Annotated[
        Path,
        typer.Option(
            "--arm",
            metavar="DIR",
            help="ARM JSON files (REST bodies, Resource Graph exports, az CLI output), any names.",
        ),
    ],
    k8s: Annotated[
        Path | None,
        typer.Option(
            "--k8s",
            metavar="DIR",
            help="One folder per cluster of `kubectl get ... -o json` output.",
        ),
    ] = None,
    report_files: Annotated[
        list[Path] | None,
        typer.Option("--report", metavar="FILE", help="Agent snapshot file (repeatable)."),
    ] = None,
    report_format: FormatOption = ReportFormat.table,
    fail_on: FailOnOption = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration (its rules: section applies)."),
    ] = None,
    output: OutputOption = None,
    waivers_file: WaiversOption = None,
) -> None:
    """Audit exported files with the whole rule catalogue: no server, broker or Azure access.

    Unreadable or unrecognised files are one warning line each on stderr; the report goes
    to stdout (or -o)."""
    from netaudit.audit.errors import AuditError
    from netaudit.audit.offline import audit_files
    from netaudit.audit.report import audit_report
    from netaudit.collector.config import load_settings

    settings = load_settings(config or collector_cli._Options.config)
    logs.configure(settings.log_level, settings.log_format)
    waivers = collector_cli.load_waivers(waivers_file, settings)
    # The audit's warnings are printed below, one line each; not twice through logging.
    logging.getLogger("netaudit.audit").setLevel(logging.ERROR)
    try:
        audited = audit_files(arm, k8s, report_files or (), settings.rules)
    except AuditError as exc:
        raise UsageError(str(exc)) from exc
    for warning in audited.warnings:
        print(f"netaudit: warning: {warning}", file=sys.stderr)
    report = collector_cli.waived(audit_report(audited), waivers)
    collector_cli.write_report(report, report_format, output)
    collector_cli.exit_for(report, fail_on)


def main() -> None:
    collector_cli.run(app)


if __name__ == "__main__":
    main()
