"""python -m netaudit_dashboards FOLDER: write every dashboard's JSON into FOLDER."""

from __future__ import annotations

import sys
from pathlib import Path

from . import DASHBOARDS
from .render import write_all

USAGE = "usage: python -m netaudit_dashboards FOLDER (an existing folder for the JSON files)"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    folder = Path(argv[0])
    if not folder.is_dir():
        print(f"{folder} is not a folder: {USAGE}", file=sys.stderr)
        return 2
    for path in write_all(DASHBOARDS, folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
