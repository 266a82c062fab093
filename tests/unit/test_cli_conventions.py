"""Every command of `netaudit` and `netaudit-agent` follows the command-line conventions:
-h, readable metavars (no Typer <bool>/<str>), exit codes at the end of --help, and the
global options accepted after the subcommand too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.agent.cli import command_line as agent_command_line
from netaudit.audit.cli import app as netaudit_app
from netaudit.collector.cli import command_line
from netaudit.collector.cli_conventions import Command

TYPER_TYPES = re.compile(r"<(bool|str|path|float|int|file|directory)[>\]]")


def _paths(command: Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, child in getattr(command, "commands", {}).items():
        yield from _paths(child, (*prefix, name))


def _help(root: Command, args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = root.main(args, prog_name="netaudit", standalone_mode=False)
    assert code == 0
    return " ".join(capsys.readouterr().out.split())


NETAUDIT_PATHS = list(_paths(command_line(netaudit_app)))
AGENT_PATHS = list(_paths(agent_command_line()))


@pytest.mark.parametrize("path", NETAUDIT_PATHS, ids=lambda p: " ".join(p) or "netaudit")
def test_every_netaudit_help_is_readable_and_ends_with_the_exit_codes(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(command_line(netaudit_app), [*path, "-h"], capsys)
    assert "Usage: netaudit" in text
    assert TYPER_TYPES.search(text) is None, text
    assert "Exit codes: 0 ok; 1 findings at or above --fail-on" in text
    assert "2 usage or configuration; 3 a service" in text


@pytest.mark.parametrize("path", AGENT_PATHS, ids=lambda p: " ".join(p) or "netaudit-agent")
def test_every_agent_help_is_readable_and_ends_with_the_exit_codes(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(agent_command_line(), [*path, "-h"], capsys)
    assert TYPER_TYPES.search(text) is None, text
    assert "Exit codes: 0 ok; 2 usage or configuration; 3 the collector" in text


def test_the_netaudit_tree_has_its_commands() -> None:
    assert {("scan",), ("report",), ("rules",), ("tokens", "list"), ("ip", "plan")} <= set(
        NETAUDIT_PATHS
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_global_option_is_accepted_before_or_after_the_subcommand(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    option = ["--state-dir", str(tmp_path)]
    args = [*option, "config", "show"] if where == "before" else ["config", "show", *option]
    code = command_line(netaudit_app).main(args, prog_name="netaudit", standalone_mode=False)
    assert code is None or code == 0
    assert f"state_dir: {tmp_path}  # flag --state-dir" in capsys.readouterr().out


def test_a_command_keeps_an_option_it_declares_itself() -> None:
    root = command_line(netaudit_app)
    audit = root.commands["audit"]  # type: ignore[attr-defined]
    config_options = [p for p in audit.params if "--config" in p.opts]
    assert len(config_options) == 1
    assert config_options[0].expose_value
