"""What several subcommands share: the baselines folder, terminal width, session options from arguments."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from suite.config.options import Options, options_from_args
from suite.config.paths import DEFAULT_BASELINES
from suite.errors import SuiteError


def baselines_dir(given) -> Path:
    """The folder of <profile>.json baselines: the one given, else the project's."""
    d = Path(given) if given else DEFAULT_BASELINES
    if d.exists() and not d.is_dir():
        raise SuiteError(f"--baselines-dir {d} is a file; name the folder that holds <profile>.json baselines.")
    return d


def terminal_width() -> int | None:
    """The summary table fits the terminal it is printed on; piped into a file or a CI log it stays whole."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return shutil.get_terminal_size().columns
    return None


def session_options(args, **fields) -> Options:
    """Session options from the declared command-line options (suite/config/options.py) plus ``fields``."""
    return options_from_args(args, **fields)


def print_text(text: str) -> None:
    if text:
        print(text)
