"""Progress during long runs: a tqdm bar per seed on a terminal, one line per seed under CI or in a log file.

Writes to the real stderr (``sys.__stderr__``) so that it shows through pytest's output capture.
"""

from __future__ import annotations

import os
import sys


def quiet() -> bool:
    """No bars under CI (CI=true, as GitHub Actions and most runners set) or when stderr is not a terminal."""
    stream = sys.__stderr__
    return bool(os.environ.get("CI")) or stream is None or not stream.isatty()


def bar(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, file=sys.__stderr__, leave=False, dynamic_ncols=True, disable=quiet(),
                mininterval=0.5, unit="step")


def line(message: str) -> None:
    if sys.__stderr__ is not None:
        print(message, file=sys.__stderr__, flush=True)
