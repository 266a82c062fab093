"""What every command of the `netaudit` command line follows, applied once to the built tree.

Typer builds a click command per function; the conventions are applied to that tree at
start, so a command added anywhere (by any module, mounted on any root) follows them
without repeating them: the global options (--config, --state-dir, ...) are accepted after
the subcommand too, ``-h`` is ``--help``, a value's metavar reads PATH or [table|json], a
flag shows no type, and every --help ends with the exit codes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from typing import Any

# Typer 0.29 vendors click: the tree typer.main.get_command builds is made of these.
from typer import _click
from typer.core import TyperArgument, TyperOption

Command = _click.Command

HELP_OPTION_NAMES = ["-h", "--help"]
DISTRIBUTION = "aks-netaudit"
GLOBAL_PANEL = "Global options (here or before the command)"
_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": ""}

Remember = Callable[[str, Any], None]


def package_version() -> str:
    """The installed distribution's version (pyproject.toml's, through its metadata)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def apply_conventions(
    root: _click.Command, global_names: Sequence[str], remember: Remember, epilog: str
) -> None:
    """Give every command under ``root`` its options and help conventions.

    ``global_names``: the root's options every subcommand accepts too; a value given after
    the subcommand is passed to ``remember(name, value)``, the root's own are read by its
    callback as before."""
    root.context_settings.setdefault("help_option_names", HELP_OPTION_NAMES)
    shared = [p for p in root.params if p.name in global_names]
    for command in _walk(root):
        if command is not root:
            command.params.extend(_accepted_copies(command, shared, remember))
        _readable_help(command)
        if not command.epilog:
            command.epilog = epilog


def _walk(command: _click.Command) -> Iterator[_click.Command]:
    yield command
    for child in getattr(command, "commands", {}).values():
        yield from _walk(child)


def _accepted_copies(
    command: _click.Command, shared: Sequence[_click.Parameter], remember: Remember
) -> list[_click.Parameter]:
    """Copies of the root's global options that record their value instead of passing it
    to the command's function; an option the command declares itself keeps its meaning."""
    taken = {p.name for p in command.params} | {
        opt for p in command.params for opt in (*p.opts, *p.secondary_opts)
    }
    copies = []
    for option in shared:
        if option.name in taken or taken.intersection(option.opts):
            continue
        accepted = copy.copy(option)
        accepted.expose_value = False
        accepted.callback = _recorder(remember)
        if isinstance(accepted, TyperOption):
            accepted.rich_help_panel = GLOBAL_PANEL
        copies.append(accepted)
    return copies


def _recorder(remember: Remember) -> Callable[[_click.Context, _click.Parameter, Any], Any]:
    def record(ctx: _click.Context, param: _click.Parameter, value: Any) -> Any:
        if param.name and value is not None and value is not False:
            # the root's params then hold every global option wherever it was given
            ctx.find_root().params[param.name] = value
            remember(param.name, value)
        return value

    return record


def _readable_help(command: _click.Command) -> None:
    ctx = _click.Context(command, help_option_names=HELP_OPTION_NAMES)
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else readable_metavar(param, ctx)
        elif isinstance(param, TyperArgument):
            param.metavar = param.metavar or (param.name or "value").upper()
            param.__class__ = NamedArgument
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        help_option.metavar = ""


class NamedArgument(TyperArgument):
    """An argument whose metavar (CLUSTER_ID, FILE) says what it is: no <str> beside it."""

    def display_type_rich(self, ctx: _click.Context) -> str | None:
        return None


def readable_metavar(option: TyperOption, ctx: _click.Context) -> str:
    """PATH, TEXT, NUMBER or [a|b|c] instead of Typer's <path>, <str>, <float>."""
    label = option.display_type(ctx).strip("<>")
    if "|" in label:
        return f"[{label}]"
    base = label.removeprefix("list[").removesuffix("]").removesuffix(" range")
    return _TYPE_NAMES.get(base, base.upper())
