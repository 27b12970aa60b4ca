"""Progress during long runs: a tqdm bar per seed on a terminal, one line per seed under CI or in a log file, and
there, where no bar is drawn, a heartbeat line every ``$GLUE_BENCH_HEARTBEAT`` seconds (default 30; 0: none) while a
seed trains: step, share done, last loss, time spent and left, so that a CI log never sits silent for minutes.

Where it goes is an ``Output``: a function that writes one whole line, and a file for live bars (None: no bars,
only the per-seed lines). By default both go to the real stderr (``sys.__stderr__``): that is right for
``python -m suite run``. A caller that owns the terminal installs its own with ``use``: the pytest layer hands in
writers that go through pytest's terminal reporter with output capture suspended, so that progress shows without
``-s`` and never lands in the middle of one of pytest's own lines. This module never imports pytest.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suite.errors import SuiteError

HEARTBEAT_ENV = "GLUE_BENCH_HEARTBEAT"
DEFAULT_HEARTBEAT_S = 30.0


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


def heartbeat_interval() -> float:
    """Seconds between heartbeat lines: ``$GLUE_BENCH_HEARTBEAT`` (0 switches them off), else 30."""
    raw = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise SuiteError(f"{HEARTBEAT_ENV}={raw!r} is not a number of seconds; set it to e.g. 30, or 0 for no "
                         "heartbeat lines.")
    return value


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


class Heartbeat:
    """Stands in for the tqdm bar where no bar is drawn: the same calls (update, set_postfix, close), and a line
    (through ``line``) when ``every`` seconds have passed since the last one. Checked once per step: no thread."""

    def __init__(self, total: int, desc: str, every: float, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.every, self.clock = total, desc, every, clock
        self.n = 0
        self.start = self.last = clock()
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            line(self.message(now))

    def set_postfix(self, refresh: bool = False, **fields) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in fields.items())

    def close(self) -> None:
        pass

    def message(self, now: float) -> str:
        spent = now - self.start
        parts = [f"{self.desc}: step {self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f}%)"]
        if self.postfix:
            parts.append(self.postfix)
        parts.append(f"{_duration(spent)} spent")
        if 0 < self.n < self.total:
            parts.append(f"about {_duration(spent * (self.total - self.n) / self.n)} of training left")
        return ", ".join(parts)


def bar(total: int, desc: str):
    """A live tqdm bar on a terminal; elsewhere (CI, a log file, an xdist worker) a Heartbeat, or a disabled bar when
    heartbeats are off."""
    from tqdm.auto import tqdm

    disabled = quiet()
    if disabled:
        every = heartbeat_interval()
        if every > 0:
            return Heartbeat(total, desc, every)
    return tqdm(total=total, desc=desc, file=None if disabled else current().bar_file, leave=False,
                dynamic_ncols=True, disable=disabled, mininterval=0.5, unit="step")


def line(message: str) -> None:
    current().line(message)
