"""One exception type for every mistake a user can make, and name lookup with suggestions."""

from __future__ import annotations

import difflib
from typing import Iterable, Mapping, TypeVar

T = TypeVar("T")


class SuiteError(Exception):
    """A problem the user can fix. Its message is one line that says what is wrong and what to do.

    The CLI and the pytest layer print it without a traceback.
    """


def lookup(kind: str, name: str, table: Mapping[str, T], *, extra: Iterable[str] = ()) -> T:
    """Return ``table[name]`` or raise ``SuiteError`` naming the closest valid names."""
    if name in table:
        return table[name]
    valid = sorted(set(table) | set(extra))
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise SuiteError(f"Unknown {kind} '{name}'.{hint} Valid {kind}s: {', '.join(valid)}.")
