"""One exception type for every mistake a user can make, and name lookup with suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")

SHOWN = 80  # characters of a user's value quoted in a message; longer values are cut with "..."


class SuiteError(Exception):
    """A problem the user can fix. Its message is one line that says what is wrong and what to do.

    The CLI and the pytest layer print it without a traceback. Control characters in the message (a newline in a
    path or a case key) are shown escaped (``printable``), so that it stays one line whatever it quotes.
    """

    def __init__(self, message="", *args):
        super().__init__(printable(message), *args)


def printable(value) -> str:
    """``value`` as text with every control or other non-printable character escaped as Python writes it in a
    string literal (a newline as \\n, ESC as \\x1b): one line on a terminal, whatever a path or key holds."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value, limit: int = SHOWN) -> str:
    """A user's value as quoted in a message: one line, at most ``limit`` characters (cut with "...")."""
    text = " ".join(str(value).split()) if "\n" in str(value) or "\r" in str(value) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def suggest(name: str, valid: Iterable[str]) -> list[str]:
    """The closest valid names: a case-insensitive exact match first (SEQ_BN -> seq_bn), then difflib's."""
    valid = list(valid)
    if len(name) > 200:
        return []
    folded = [v for v in valid if v.lower() == name.lower()]
    close = difflib.get_close_matches(name.lower(), [v.lower() for v in valid], n=3, cutoff=0.5)
    by_lower = {v.lower(): v for v in valid}
    return list(dict.fromkeys([*folded, *(by_lower[c] for c in close)]))[:3]


def lookup(kind: str, name: str, table: Mapping[str, T], *, extra: Iterable[str] = ()) -> T:
    """Return ``table[name]`` or raise ``SuiteError`` naming the closest valid names."""
    if name in table:
        return table[name]
    valid = sorted(set(table) | set(extra))
    close = suggest(name, valid)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise SuiteError(f"Unknown {kind} '{shown(name)}'.{hint} Valid {kind}s: {', '.join(valid)}.")
