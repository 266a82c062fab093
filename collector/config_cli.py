"""`netaudit config show|example`: the configuration in effect, and a complete example."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from netaudit.collector.config import ConfigLayers, load_settings
from netaudit.collector.config_docs import effective_yaml, example_yaml

config_app = typer.Typer(
    help="The collector's configuration: what is in effect and where each value came from, "
    "and a complete commented example. Precedence: flags > NETAUDIT_… environment (nested "
    "with __, e.g. NETAUDIT_INGEST__PORT=6000; lists as JSON or comma-separated, e.g. "
    "NETAUDIT_AZURE__SUBSCRIPTIONS=sub1,sub2) > the YAML file (--config or NETAUDIT_CONFIG) > "
    "defaults. Unknown keys are refused, every problem on its own line, exit code 2.",
    no_args_is_help=True,
)

GLOBAL_FLAGS = ("state_dir", "log_level")
"""The root's options that are settings (the root's --config names the file)."""


@config_app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration as YAML, secrets masked, each value with its origin
    (default, file PATH, env NAME or flag)."""
    config_file, flags = _global_options(ctx)
    settings = load_settings(config_file, **flags)
    sys.stdout.write(effective_yaml(settings, ConfigLayers.read(config_file, flags)))


@config_app.command("example")
def example() -> None:
    """Print a complete configuration file: every key, its default and what it means."""
    sys.stdout.write(example_yaml())


def _global_options(ctx: typer.Context) -> tuple[Path | None, dict[str, Any]]:
    given = ctx.find_root().params
    flags = {name: given[name] for name in GLOBAL_FLAGS if given.get(name) is not None}
    return given.get("config"), flags
