"""Progress during long runs: a tqdm bar per seed on a terminal, one line per seed under CI or in a log file.

Where it goes is an ``Output``: a function that writes one whole line, and a file for live bars (None: no bars,
only the per-seed lines). By default both go to the real stderr (``sys.__stderr__``): that is right for
``python -m suite run``. A caller that owns the terminal installs its own with ``use``: the pytest layer hands in
writers that go through pytest's terminal reporter with output capture suspended, so that progress shows without
``-s`` and never lands in the middle of one of pytest's own lines. This module never imports pytest.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Output:
    line: Callable[[str], None]     # writes one whole line (the per-seed summary), on a line of its own
    bar_file: Any | None = None     # a text file for live tqdm bars (a terminal); None: lines only


def _stderr_line(message: str) -> None:
    if sys.__stderr__ is not None:
        print(message, file=sys.__stderr__, flush=True)


def _default() -> Output:
    stream = sys.__stderr__
    tty = stream is not None and stream.isatty()
    return Output(line=_stderr_line, bar_file=stream if tty else None)


_installed: Output | None = None


def use(output: Output | None) -> None:
    """Send progress to ``output`` from now on; None: back to the real stderr."""
    global _installed
    _installed = output


def current() -> Output:
    return _installed if _installed is not None else _default()


def quiet() -> bool:
    """No bars under CI (CI=true, as GitHub Actions and most runners set) or when there is no terminal to draw on."""
    return bool(os.environ.get("CI")) or current().bar_file is None


def bar(total: int, desc: str):
    from tqdm.auto import tqdm

    disabled = quiet()
    return tqdm(total=total, desc=desc, file=None if disabled else current().bar_file, leave=False,
                dynamic_ncols=True, disable=disabled, mininterval=0.5, unit="step")


def line(message: str) -> None:
    current().line(message)
