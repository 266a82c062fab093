"""What a process started, read from /proc independently of the code under test: the
tree below it (ppid links) and the sessions its children made, noted before it is
stopped and checked afterwards."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Seen:
    pid: int
    session: int
    started: int  # field 22: tells the process from a later one reusing the pid
    command: str


def _seen(pid: int) -> tuple[Seen, int] | None:
    """The process and its parent's pid; None once it has exited (zombies included)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        command = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in {"Z", "X"}:
        return None
    return Seen(pid, int(fields[3]), int(fields[19]), command.strip()), int(fields[1])


def everything() -> list[tuple[Seen, int]]:
    found = (_seen(int(entry.name)) for entry in PROC.iterdir() if entry.name.isdigit())
    return [item for item in found if item is not None]


def tree(root: int) -> list[Seen]:
    """Every process below `root`, whatever session it runs in."""
    children: dict[int, list[Seen]] = {}
    for seen, ppid in everything():
        children.setdefault(ppid, []).append(seen)
    below: list[Seen] = []
    parents = [root]
    while parents:
        level = [child for parent in parents for child in children.get(parent, [])]
        below.extend(level)
        parents = [child.pid for child in level]
    return below


def sessions_made_by(processes: list[Seen]) -> set[int]:
    """The sessions these processes lead or belong to, except the test's own."""
    return {seen.session for seen in processes} - {os.getsid(0)}


def alive(seen: Seen) -> bool:
    now = _seen(seen.pid)
    return now is not None and now[0].started == seen.started


def survivors(processes: list[Seen], sessions: set[int], timeout: float = 10.0) -> list[str]:
    """The processes (or members of the sessions) still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = [seen for seen in processes if alive(seen)]
        left += [seen for seen, _ in everything() if seen.session in sessions and seen not in left]
        if not left or time.monotonic() > deadline:
            return [f"{seen.pid} {seen.command}" for seen in left]
        time.sleep(0.1)
