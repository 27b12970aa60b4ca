"""``python -m suite``: dispatches to the subcommands in suite/commands/ (``python -m suite --help`` lists them)."""

from __future__ import annotations

import sys

from suite.commands import entry_point, main  # noqa: F401  (main: the in-process entry the tests call)

if __name__ == "__main__":
    sys.exit(entry_point())
