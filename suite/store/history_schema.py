"""The results history's tables (SQLite) and what every stored value must be for a reader to trust it.

``suite.store.history.check`` (the integrity check before a run, and before every history command) applies these
to the whole file: every table the suite reads has every column the suite reads, and every value has the type and
range its readers rely on (text where they slice or compare text, integers where they count, finite numbers within
bounds where they sum). A reader that passed the check never meets a missing column, a BLOB date or a
non-numeric n later. Library code: every problem is returned in words, the caller raises it as one line."""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from functools import lru_cache

from suite.errors import printable
from suite.gate.baselines import NUMBER_BOUND

DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    record_key TEXT NOT NULL UNIQUE,        -- hash of what was measured: idempotent appends and imports
    run_id TEXT NOT NULL,                   -- cases of one session/results file share it
    date TEXT NOT NULL,                     -- when the case ran (UTC ISO 8601)
    git_commit TEXT, git_dirty INTEGER,
    versions TEXT NOT NULL,                 -- JSON {package: release}
    hardware TEXT NOT NULL,                 -- fingerprint, e.g. "cpu:AMD EPYC x16"
    profile TEXT NOT NULL, case_key TEXT NOT NULL, task TEXT NOT NULL, method TEXT NOT NULL, model TEXT,
    config_hash TEXT NOT NULL, data_fingerprint TEXT NOT NULL,
    metric TEXT NOT NULL,                   -- the primary metric the values are of (points, 0-100)
    seeds TEXT NOT NULL, seed_values TEXT NOT NULL,   -- JSON lists, ok runs only
    mean REAL, sd REAL, n INTEGER NOT NULL,
    status TEXT NOT NULL, error TEXT,
    train_samples_per_s REAL, train_samples_per_cpu_s REAL,
    baseline_updated INTEGER NOT NULL DEFAULT 0,
    source TEXT, added TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_case ON records (profile, case_key, date);
CREATE TABLE IF NOT EXISTS acks (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL, case_key TEXT NOT NULL,
    through_date TEXT NOT NULL,             -- change points whose first run is at or before this date are accepted
    level_from TEXT NOT NULL,               -- the accepted level starts here: drift's reference window
    note TEXT, added TEXT NOT NULL
);
"""

# column -> (type, may be NULL, lowest, highest): "text", "int" or "num" (an int or a finite float)
_TEXT, _OPT_TEXT = ("text", False, None, None), ("text", True, None, None)
_COUNT = ("int", False, 0, 2**62)
_FLAG = ("int", True, 0, 1)
_OPT_RATE = ("num", True, 0.0, NUMBER_BOUND)
RECORD_TYPES = {
    "id": _COUNT, "record_key": _TEXT, "run_id": _TEXT, "date": _TEXT, "git_commit": _OPT_TEXT, "git_dirty": _FLAG,
    "versions": _TEXT, "hardware": _TEXT, "profile": _TEXT, "case_key": _TEXT, "task": _TEXT, "method": _TEXT,
    "model": _OPT_TEXT, "config_hash": _TEXT, "data_fingerprint": _TEXT, "metric": _TEXT, "seeds": _TEXT,
    "seed_values": _TEXT, "mean": ("num", True, -NUMBER_BOUND, NUMBER_BOUND), "sd": _OPT_RATE,
    "n": ("int", False, 0, 10**6), "status": _TEXT, "error": _OPT_TEXT, "train_samples_per_s": _OPT_RATE,
    "train_samples_per_cpu_s": _OPT_RATE, "baseline_updated": ("int", False, 0, 1), "source": _OPT_TEXT,
    "added": _TEXT,
}
ACK_TYPES = {"id": _COUNT, "profile": _TEXT, "case_key": _TEXT, "through_date": _TEXT, "level_from": _TEXT,
             "note": _OPT_TEXT, "added": _TEXT}
TYPES = {"records": RECORD_TYPES, "acks": ACK_TYPES}


@lru_cache(maxsize=1)
def expected_columns() -> dict[str, frozenset[str]]:
    """Each table's columns as ``DDL`` creates them (the one declaration)."""
    with closing(sqlite3.connect(":memory:")) as mem:
        mem.executescript(DDL)
        tables = [r[0] for r in mem.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: frozenset(r[1] for r in mem.execute(f"PRAGMA table_info({t})")) for t in tables}


def columns_problem(con: sqlite3.Connection) -> str | None:
    """The first table the suite reads that lacks a column it reads (acks may be absent: no acknowledgement yet)."""
    present = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, columns in expected_columns().items():
        if table not in present:
            continue
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        missing = sorted(columns - have)
        if missing:
            return f"table {table} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    return None


def value_problem(name: str, value, spec) -> str | None:
    """Why a stored value is not what its readers rely on (None: it is)."""
    kind, nullable, lo, hi = spec
    if value is None:
        return None if nullable else f"{name} is NULL"
    shown = printable(repr(value)[:40])
    if kind == "text":
        return None if isinstance(value, str) else f"{name} = {shown} is not text"
    if kind == "int" and not isinstance(value, int):
        return f"{name} = {shown} is not an integer"
    if kind == "num" and not (isinstance(value, (int, float)) and math.isfinite(value)):
        return f"{name} = {shown} is not a finite number"
    if not lo <= value <= hi:
        return f"{name} = {shown} is outside {lo:g}..{hi:g}"
    return None


def row_problem(row: sqlite3.Row, types: dict) -> str | None:
    """The first value of a row (sqlite3.Row) that is not what its readers rely on."""
    for name, spec in types.items():
        problem = value_problem(name, row[name], spec)
        if problem:
            return problem
    return None
