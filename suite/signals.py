"""SIGTERM behaves as Ctrl-C.

CI cancellation (GitHub Actions, GitLab, Kubernetes, ``timeout``) sends SIGTERM, whose default action ends the
process on the spot: exit 143, no message, nothing written. ``install`` makes SIGTERM raise ``Terminated`` (a
``KeyboardInterrupt``) where Ctrl-C raises ``KeyboardInterrupt``, so both unwind the same way: the results so far
are written, baselines and history are left untouched, one line says what happened. The pytest layer
(suite/pytest_plugin.py) installs it for the whole session; ``python -m suite run`` around its cases.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt."""


def exit_status(name: str | None) -> int:
    """The shell's convention for a run ended by a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(getattr(signal, name or "SIGINT"))


def install(on_signal: Callable[[str], None] | None = None) -> dict:
    """Route SIGINT and SIGTERM through ``on_signal(name)``, then raise KeyboardInterrupt (``Terminated`` for
    SIGTERM; a callable SIGINT handler installed before, such as Python's own, is chained). Returns the previous
    handlers (see ``restore``); outside the main thread nothing can be installed and it returns {}."""
    previous: dict = {}

    def handler(signum, frame):
        name = NAMES.get(signum, str(signum))
        if on_signal is not None:
            on_signal(name)
        if signum == signal.SIGTERM:
            raise Terminated(f"terminated ({name})")
        prev = previous.get(signum)
        if callable(prev):
            prev(signum, frame)
        raise KeyboardInterrupt

    try:
        for signum in NAMES:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        restore(previous)
        return {}
    return previous


def restore(previous: dict) -> None:
    for signum, handler in previous.items():
        if handler is not None:
            signal.signal(signum, handler)


def deferred() -> tuple[dict, list[str]]:
    """Hold SIGINT/SIGTERM while the results are written (a second Ctrl-C must not lose them): the signals that
    arrive are recorded in the returned list. Undo with ``restore``."""
    caught: list[str] = []
    try:
        previous = {s: signal.signal(s, lambda signum, frame: caught.append(NAMES[signum])) for s in NAMES}
    except ValueError:
        previous = {}
    return previous, caught
