"""Results history: every case of every run in one SQLite file, and what a single baseline cannot see in it.

A stored baseline is one point, and each accepted update re-anchors it: a library that loses 0.3 points per
release passes every gate (tolerance 0.5) while losing 1.5 points over five releases. The history keeps all the
points, so that

- ``drift`` fails a case whose mean is more than ``max_drift`` points below a stable reference: the median of the
  first ``REFERENCE_RUNS`` runs of its config since the last acknowledgement (not the best value ever recorded,
  whose distance to a new run grows with the history), so one ``--max-drift`` means the same false-alarm rate
  after 10 or 1,000 runs; baseline updates do not move the reference (carrying drift is what they do),
- ``change_points`` finds step changes in a case's series (E-divisive, see changepoints.py); the gate keeps
  failing a case whose latest run lies after a downward change point until someone acknowledges it
  (``python -m suite history ack``) or a baseline update after the step accepts it,
- ``blame`` names the first run after the largest step and what changed at it.

Storage: stdlib sqlite3 in WAL mode with a busy timeout; one ``BEGIN IMMEDIATE`` transaction per append, so that
several writers (the xdist controller, CI jobs importing artifacts) serialise and lose nothing. One record per
case per run; a record's identity is a hash of what was measured (profile, case, config, data, date, hardware,
per-seed values), so importing the same results file twice, or importing a file a session already appended,
adds nothing.

Library code: no pytest, every user mistake is one SuiteError line.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from suite.config.paths import DEFAULT_HISTORY  # noqa: E402,F401  (the default, re-exported for callers)
from suite.engine.results import CaseResult, case_key
from suite.errors import SuiteError, lookup
from suite.gate.baselines import one_line
from suite.gate.verdicts import metric_range
from suite.store import changepoints, results_files
from suite.store import history_schema as hs

SCHEMA = 1
BUSY_TIMEOUT_S = 60

_DDL = hs.DDL
HOLD_P = 0.10         # a step found at changepoints.MAX_P stays found while it holds at this level
REFERENCE_RUNS = 3    # drift's reference: the median of this many runs (fewer: no drift verdict yet)


# --- storage ------------------------------------------------------------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # explicit transactions only
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    return con


def _busy(exc: Exception) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return "locked" in str(exc) or "busy" in str(exc) or name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def _write(path: Path, body):
    """``body(con)`` in one ``BEGIN IMMEDIATE`` transaction of a WAL database; returns what it returns.

    SQLite answers "database is locked" at once, without waiting in its busy handler, where waiting could deadlock
    (two connections converting a new file to WAL, one reading while another commits); the busy timeout does not
    cover that. Such a transaction is retried whole (it rolled back) after a short random pause until
    ``BUSY_TIMEOUT_S`` have passed, so that concurrent writers still serialise and none is lost."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            with closing(_connect(path)) as con:
                con.execute("PRAGMA journal_mode = WAL")
                con.execute("BEGIN IMMEDIATE")   # writers queue here (busy timeout), so none is lost
                out = body(con)
                con.execute("COMMIT")
                return out
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.02, 0.2))


def _corrupt(path: Path, exc: Exception) -> SuiteError:
    """An SQLite error as what it is: locked, disk full, read-only file or folder, cannot open, damaged."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if _busy(exc):
        return SuiteError(f"{path} stayed locked by another writer for {BUSY_TIMEOUT_S} s ({exc}); try again, and keep "
                          "the history off network file systems (SQLite WAL needs local locking).")
    if name == "SQLITE_FULL" or "disk is full" in text:
        return SuiteError(f"Cannot write the results history {path}: no space left on the device ({exc}); free some "
                          "space and run again (the history is unchanged).")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        where = path.parent if path.exists() and os.access(path, os.W_OK) else path
        what = "its folder" if where == path.parent else "the file"
        return SuiteError(f"Cannot write the results history {path}: {what} {where} is read-only ({exc}); make it "
                          "writable, point --history elsewhere, or pass --no-history.")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return SuiteError(f"Cannot open the results history {path} ({exc}); check that it and its folder exist and "
                          "are readable (and writable, to append).")
    if name.startswith("SQLITE_IOERR") or "disk I/O" in text:
        return SuiteError(f"I/O error on the results history {path} ({exc}); check the disk and the file system.")
    return SuiteError(f"{path} is a damaged or foreign file, not a results history database ({exc}); move it away "
                      "and re-import the results files with python -m suite history import RESULTS.json...")


def _check_schema(con: sqlite3.Connection, path: Path) -> None:
    row = con.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    if row is not None and row[0] != str(SCHEMA):
        raise SuiteError(f"{path} has history schema {row[0]}; this suite reads schema {SCHEMA}.")


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection; in a folder that cannot be written (where WAL cannot create its -shm file) the file
    is opened as immutable, so that reading still works."""
    from urllib.parse import quote

    flags = "mode=ro" + ("" if os.access(path.parent, os.W_OK) else "&immutable=1")
    con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?{flags}", uri=True, timeout=BUSY_TIMEOUT_S,
                          isolation_level=None)
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    return con


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def open_for_read(path: str | os.PathLike) -> sqlite3.Connection:
    """A read-only connection to a results history. An SQLite file with no tables at all (an import interrupted
    before its first commit) reads as an empty history; one with other tables is refused."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise SuiteError(f"The results history {path} is a folder or a special file (a FIFO, device or socket), not a "
                         "database file; point --history at a file.")
    if not path.is_file():
        raise SuiteError(f"No results history at {path}; build one with python -m suite history import RESULTS.json... "
                         "(or point --history at it).")
    try:
        con = _connect_ro(path)
        tables = _tables(con)
        if tables and not {"meta", "records"} <= tables:
            con.close()
            raise SuiteError(f"{path} is an SQLite file but not a results history (no records table).")
        if tables:
            _check_schema(con, path)
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, exc) from None
    return con


def check(path: str | os.PathLike) -> None:
    """The integrity check of a history before a run reads or appends to it (before any training): SQLite's own
    integrity check, the tables and schema, and every record readable (JSON columns, a mean for each ok record).
    Any problem is one SuiteError line; a missing or empty file passes (the run creates it)."""
    path = Path(path)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    con = open_for_read(path)
    try:
        with closing(con):
            problems = [r[0] for r in con.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise SuiteError(f"{path} is damaged (SQLite integrity check: {'; '.join(problems)[:300]}); the "
                                 "history gates cannot trust it. Move it away and re-import the results files with "
                                 "python -m suite history import RESULTS.json...")
            if not _tables(con):
                return
            _columns(path, con)
            con.row_factory = sqlite3.Row
            _points(path, con.execute("SELECT * FROM records ORDER BY date, id").fetchall())
            if "acks" in _tables(con):
                _acks(path, con.execute("SELECT * FROM acks ORDER BY id").fetchall())
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, exc) from None


_MOVE_AWAY = ("the history gates cannot trust it. Move it away and re-import the results files with python -m suite "
              "history import RESULTS.json...")


def _columns(path, con: sqlite3.Connection) -> None:
    """Every table the suite reads has every column it reads (a table made by another tool or version: refused)."""
    problem = hs.columns_problem(con)
    if problem:
        raise SuiteError(f"{path} is not a results history this suite can read ({problem}); {_MOVE_AWAY}")


def _acks(path, rows) -> list[Ack]:
    """The acknowledgement rows as Acks; a row with a value of the wrong type (a BLOB date) is one SuiteError."""
    bad = [(row["id"], problem) for row in rows if (problem := hs.row_problem(row, hs.ACK_TYPES))]
    if bad:
        ids = ", ".join(str(i) for i, _ in bad[:10])
        raise SuiteError(f"{path}: acknowledgement{'s' if len(bad) > 1 else ''} {ids} cannot be read ({bad[0][1]}); "
                         "the history gates cannot trust it. Delete those rows (sqlite3 ... DELETE FROM acks WHERE id "
                         "IN (...)) or move the file away and re-import the results files.")
    return [Ack(row["through_date"], row["level_from"], row["note"] or "", row["added"]) for row in rows]


def _points(path, rows) -> list[Point]:
    """The rows as Points; unreadable rows (bad JSON in a column, an ok record without a mean) are one SuiteError
    that names them all."""
    out, bad = [], []
    for row in rows:
        try:
            if problem := hs.row_problem(row, hs.RECORD_TYPES):
                raise ValueError(problem)
            p = _point(row)
            if p.ok and (not isinstance(p.mean, (int, float)) or not math.isfinite(p.mean)):
                raise ValueError("an ok record without a finite mean")
            lo, hi = metric_range(p.metric)
            if p.ok and not all(isinstance(v, (int, float)) and lo <= v <= hi for v in [p.mean, *p.values]):
                raise ValueError(f"a value outside {lo:g}..{hi:g}")
            if not isinstance(p.versions, dict) or not isinstance(p.values, list) or not isinstance(p.seeds, list):
                raise ValueError("a JSON column of the wrong type")
            out.append(p)
        except (ValueError, TypeError) as exc:
            bad.append((row["id"], exc))
    if bad:
        ids = ", ".join(str(i) for i, _ in bad[:10]) + (f" ... ({len(bad)} in all)" if len(bad) > 10 else "")
        raise SuiteError(f"{path}: record{'s' if len(bad) > 1 else ''} {ids} cannot be read ({one_line(bad[0][1])}); "
                         "the history gates cannot trust it. Delete those records (sqlite3 ... DELETE FROM records "
                         "WHERE id IN (...)) or move the file away and re-import the results files.")
    return out


def _per_cpu(result: CaseResult, raw: dict | None) -> float | None:
    """Mean train samples per CPU-second over ok runs, when the result carries the figure."""
    vals = []
    raw_runs = (raw or {}).get("runs") or [None] * len(result.runs)
    for run, rr in zip(result.runs, raw_runs):
        if run.status != "ok":
            continue
        v = getattr(run, "train_samples_per_cpu_s", None)
        if v is None and isinstance(rr, dict):
            v = rr.get("train_samples_per_cpu_s")
        if isinstance(v, (int, float)) and math.isfinite(v):
            vals.append(float(v))
    return statistics.fmean(vals) if vals else None


def record_of(result: CaseResult, *, run_id: str, baseline_updated: bool = False, source: str = "",
              raw: dict | None = None, fallback_date: str | None = None) -> dict:
    """The row stored for one case of one run."""
    prov = result.provenance or {}
    git = prov.get("git") or {}
    hw = prov.get("hardware") or {}
    versions = {k: v for k, v in (prov.get("versions") or {}).items()}
    ok_runs = [r for r in result.runs if r.status == "ok" and result.primary_metric in r.metrics]
    values = [float(r.metrics[result.primary_metric]) for r in ok_runs]
    ok = result.ok and bool(values) and all(math.isfinite(v) for v in values)
    stat = result.metric() if ok else None
    date = prov.get("date") or fallback_date or _now()
    rec = {
        "run_id": run_id, "date": date, "git_commit": git.get("commit"),
        "git_dirty": None if git.get("dirty") is None else int(bool(git.get("dirty"))),
        "versions": json.dumps(versions, sort_keys=True), "hardware": hw.get("fingerprint") or "?",
        "profile": result.profile, "case_key": result.key, "task": result.task, "method": result.method,
        "model": result.config.get("model"), "config_hash": result.config_hash,
        "data_fingerprint": result.data_fingerprint or "", "metric": result.primary_metric,
        "seeds": json.dumps([r.seed for r in ok_runs]), "seed_values": json.dumps(values),
        "mean": stat.mean if stat else None, "sd": stat.sd if stat else None, "n": len(values) if ok else 0,
        "status": "ok" if ok else "failed", "error": None if ok else (result.error or "no finite primary metric"),
        "train_samples_per_s": result.mean_of("train_samples_per_s") if ok else None,
        "train_samples_per_cpu_s": _per_cpu(result, raw) if ok else None,
        "baseline_updated": int(bool(baseline_updated)), "source": source, "added": _now(),
    }
    # "task/method" as before the key named the model (the config hash covers the model): re-importing a file
    # that an older suite imported adds nothing
    ident = [rec[k] if k != "case_key" else f"{result.task}/{result.method}"
             for k in ("profile", "case_key", "config_hash", "data_fingerprint", "date", "hardware", "git_commit",
                       "seeds", "seed_values", "status")]
    rec["record_key"] = hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]
    return rec


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _insert(path, records: list[dict]) -> int:
    """Create the database if needed and add the records, all in one transaction; returns how many were new."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise SuiteError(f"The results history {path} is a folder or a special file, not a database file; point "
                         "--history at a file.")
    def add(con) -> int:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "records" not in tables:
            raise SuiteError(f"{path} is an SQLite file but not a results history (no records table); "
                             "point --history at another file.")
        for stmt in filter(str.strip, _DDL.split(";")):
            con.execute(stmt)
        _check_schema(con, path)
        con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        added = 0
        for rec in records:
            cur = con.execute(f"INSERT OR IGNORE INTO records ({', '.join(rec)}) "
                              f"VALUES ({', '.join('?' * len(rec))})", list(rec.values()))
            added += cur.rowcount
        return added

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _write(path, add)
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, exc) from None
    except OSError as exc:
        raise SuiteError(f"Cannot write the results history {path}: {exc}.") from None


def append(path, results: Iterable[CaseResult], *, run_id: str | None = None,
           baseline_updated: bool | Iterable[str] = False) -> int:
    """Store one record per case of one run, in one transaction. Returns how many were new.

    ``baseline_updated``: True (every case updated its baseline), or the keys whose baseline entries this run
    rewrote (what ``baselines.update`` returns). ``run_id`` groups the cases of one run; default: a new one.
    """
    results = list(results)
    if run_id is None:
        run_id = hashlib.sha256(f"{_now()}:{id(results)}:{[r.key for r in results]}".encode()).hexdigest()[:16]
    updated = (lambda key: baseline_updated) if isinstance(baseline_updated, bool) else (
        lambda key, s=set(baseline_updated): key in s)
    return _insert(path, [record_of(r, run_id=run_id, baseline_updated=updated(r.key), source="session")
                          for r in results])


def import_results(path, results_json_paths: Iterable[str | Path]) -> list[tuple[Path, int, int]]:
    """Import files written by --results-json: [(file, cases, new records)]. A case whose verdict is "updated"
    is recorded as a baseline update. Each file is one transaction; re-importing adds nothing."""
    out = []
    check(path)  # never add to a damaged history
    for p in results_json_paths:
        p = Path(p)
        doc, results = results_files.load_doc(p)  # the one validated loader of results files
        raws, created = doc["cases"], doc.get("created")
        run_id = "file:" + hashlib.sha256(f"{doc.get('profile')}:{created}:{p.name}".encode()).hexdigest()[:16]
        recs = [record_of(r, run_id=run_id, raw=c, fallback_date=created, source=str(p),
                          baseline_updated=(c.get("verdict") or {}).get("status") == "updated")
                for r, c in zip(results, raws)]
        out.append((p, len(recs), _insert(path, recs)))
    return out


# --- reading ------------------------------------------------------------------------------------------------

@dataclass
class Point:
    """One case of one run, as stored."""

    id: int
    run_id: str
    date: str
    commit: str | None
    dirty: bool | None
    versions: dict
    hardware: str
    profile: str
    key: str
    config_hash: str
    data_fingerprint: str
    metric: str
    seeds: list[int]
    values: list[float]
    mean: float | None
    sd: float | None
    n: int
    ok: bool
    error: str | None
    throughput: float | None
    throughput_per_cpu_s: float | None
    baseline_updated: bool
    record_key: str = ""

    @property
    def short_commit(self) -> str:
        return (self.commit or "?")[:8] + ("+" if self.dirty else "")

    def releases(self, packages=("torch", "transformers", "adapters")) -> str:
        return " ".join(f"{p} {self.versions[p]}" for p in packages if p in self.versions)


def _point(row: sqlite3.Row) -> Point:
    key = row["case_key"]
    if row["model"] is not None and key == f"{row['task']}/{row['method']}":
        key = case_key(row["task"], row["method"], row["model"])  # stored before the key named the model
    return Point(id=row["id"], run_id=row["run_id"], date=row["date"], commit=row["git_commit"],
                 dirty=None if row["git_dirty"] is None else bool(row["git_dirty"]),
                 versions=json.loads(row["versions"]),
                 hardware=row["hardware"], profile=row["profile"], key=key, config_hash=row["config_hash"],
                 data_fingerprint=row["data_fingerprint"], metric=row["metric"], seeds=json.loads(row["seeds"]),
                 values=json.loads(row["seed_values"]), mean=row["mean"], sd=row["sd"], n=row["n"],
                 ok=row["status"] == "ok", error=row["error"], throughput=row["train_samples_per_s"],
                 throughput_per_cpu_s=row["train_samples_per_cpu_s"], baseline_updated=bool(row["baseline_updated"]),
                 record_key=row["record_key"])


def _series(path) -> dict[tuple[str, str], list[Point]]:
    """Every stored point by (profile, case key), in date order; {} for an empty history."""
    con = open_for_read(path)
    try:
        with closing(con):
            if not _tables(con):
                return {}
            _columns(path, con)
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM records ORDER BY date, id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise _corrupt(Path(path), exc) from None
    series: dict[tuple[str, str], list[Point]] = {}
    for p in _points(path, rows):
        series.setdefault((p.profile, p.key), []).append(p)
    return series


def load(path, *, profile: str | None = None, case: str | None = None) -> dict[tuple[str, str], list[Point]]:
    """(profile, case key) -> its points in date order, after the integrity check (every history command reads
    through here: show, plot, blame, ack, check). An unknown case or profile is a SuiteError."""
    check(path)
    series = _series(path)
    if not series:
        raise SuiteError(f"{path} holds no records yet; "
                         "import results with python -m suite history import RESULTS.json...")
    try:
        if profile is not None:
            lookup("profile", profile, {pr: pr for pr, _ in series})
            series = {k: v for k, v in series.items() if k[0] == profile}
        if case is not None:
            keys = {k for _, k in series}
            if case not in keys and "@" not in case and any(k.split("@", 1)[0] == case for k in keys):
                series = {k: v for k, v in series.items() if k[1].split("@", 1)[0] == case}  # task/method: every model
            else:
                lookup("case", case, {k: k for k in keys})
                series = {k: v for k, v in series.items() if k[1] == case}
    except SuiteError as exc:
        raise SuiteError(f"{exc} (the profiles and cases recorded in {path})") from None
    return series


def case_series(path, result: CaseResult) -> list[Point]:
    """The stored points of this result's case (same profile and key); [] when the history has none (no file, an
    empty one). A history that cannot be read is a SuiteError: the gates fail on it, never read it as "none"."""
    path = Path(path)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return []
    return _series(path).get((result.profile, result.key), [])


def comparable(series: list[Point], config_hash: str | None = None, data_fingerprint: str | None = None) -> list[Point]:
    """The ok points measured with this config and data (default: the latest point's)."""
    if not series:
        return []
    config_hash = series[-1].config_hash if config_hash is None else config_hash
    data_fingerprint = series[-1].data_fingerprint if data_fingerprint is None else data_fingerprint
    return [p for p in series if p.ok and p.config_hash == config_hash and p.data_fingerprint == data_fingerprint]


# --- what changed between two runs --------------------------------------------------------------------------

def release_changes(before: Point, after: Point) -> list[str]:
    out = []
    for pkg in sorted(set(before.versions) | set(after.versions)):
        a, b = before.versions.get(pkg), after.versions.get(pkg)
        if a != b:
            out.append(f"{pkg} {a or 'absent'} -> {b or 'absent'}")
    return out


def changes(before: Point, after: Point) -> list[str]:
    """Everything that differs between two runs of a case: commits, releases, hardware, config, data."""
    out = []
    if before.commit != after.commit or before.dirty != after.dirty:
        out.append(f"commits {before.short_commit}..{after.short_commit}"
                   + (f" (git log {before.commit}..{after.commit})" if before.commit and after.commit else ""))
    out += release_changes(before, after)
    if before.hardware != after.hardware:
        out.append(f"hardware {before.hardware} -> {after.hardware}")
    if before.config_hash != after.config_hash:
        out.append(f"config {before.config_hash} -> {after.config_hash}")
    if before.data_fingerprint != after.data_fingerprint:
        out.append(f"data {before.data_fingerprint[:12]} -> {after.data_fingerprint[:12]}")
    return out


# --- change points ------------------------------------------------------------------------------------------

@dataclass
class ChangePoint:
    index: int                 # position in the analysed points of the first run after the change
    point: Point               # that run
    previous: Point            # the run before it
    before: float              # mean of the segment before (points)
    after: float               # mean of the segment after
    p_value: float
    changed: list[str] = field(default_factory=list)

    @property
    def size(self) -> float:
        return self.after - self.before

    def describe(self) -> str:
        p = self.point
        what = "; ".join(self.changed) or "nothing recorded changed (seed noise, machine load or an unrecorded change)"
        return (f"{p.key}: step {self.size:+.2f} points ({self.before:.2f} -> {self.after:.2f}, "
                f"p = {self.p_value:.3f}) first seen in the run of {p.date[:19]} at commit {p.short_commit} "
                f"({p.releases()}); changed: {what}")


def change_points(series: list[Point], *, max_p: float = changepoints.MAX_P,
                  permutations: int = changepoints.PERMUTATIONS) -> list[ChangePoint]:
    """Step changes in the run means of one case's ok points, in series order."""
    pts = [p for p in series if p.ok and p.mean is not None]
    splits = sorted(changepoints.e_divisive([p.mean for p in pts], max_p=max_p, permutations=permutations),
                    key=lambda s: s.index)
    cuts = [0, *[s.index for s in splits], len(pts)]
    out = []
    for i, s in enumerate(splits):
        before = statistics.fmean(p.mean for p in pts[cuts[i]:cuts[i + 1]])
        after = statistics.fmean(p.mean for p in pts[cuts[i + 1]:cuts[i + 2]])
        prev, cur = pts[s.index - 1], pts[s.index]
        out.append(ChangePoint(s.index, cur, prev, before, after, s.p_value, changes(prev, cur)))
    return out


@dataclass(frozen=True)
class Ack:
    """``history ack``: the case's change points up to ``through_date`` are accepted; drift's reference level
    starts at ``level_from``."""

    through_date: str
    level_from: str
    note: str = ""
    added: str = ""


def _accepted(cp: ChangePoint, pts: list[Point], acks: list[Ack]) -> bool:
    """A change point is accepted by an acknowledgement made when its first run was already recorded, or by a
    baseline update at or after that run."""
    return (any(a.through_date >= cp.point.date for a in acks)
            or any(p.baseline_updated for p in pts[cp.index:]))


def latest_change_point(series: list[Point], acks: list[Ack] = (), **kw) -> ChangePoint | None:
    """The change-point gate (--fail-on-change-point): the latest run lies after a step DOWN that nobody has
    accepted. Returns the last change point of the series when (1) the latest run lies after it, (2) it is a
    drop, and (3) it is not accepted: no ``history ack`` made after its first run, and no baseline update since
    it. None otherwise. So a regressed build stays red on every rerun until someone acknowledges the step;
    re-running the CI job does not turn it green. The analysis uses the runs with the latest run's config and
    data only, so that a deliberate config change is not reported as a step.

    Why not "the change point whose first run is the latest run": a single run after a step can never be
    significant in a permutation test: the shuffled series puts that one extreme run at either end with
    probability about 2/n, so p >= ~2/n (0.1 for 20 runs), whatever the size of the drop. A drop in the latest run
    alone is the baseline gate's job; this gate confirms a step once two or three runs sit below it, and names
    its first run (commit, releases), which may be a few runs back.
    """
    pts = comparable(series)
    if len(pts) < 2 or pts[-1] is not series[-1]:
        return None
    acks = list(acks)
    max_p = kw.pop("max_p", changepoints.MAX_P)
    found = _unaccepted_drop(pts, acks, max_p, **kw)
    if found is not None:
        return found
    # hysteresis: a step once found stays found while it holds at HOLD_P, so that one more run near the old
    # level cannot turn a regressed case green (walk back through the earlier series until it was found)
    held = _unaccepted_drop(pts, acks, max(max_p, HOLD_P), **kw)
    if held is None:
        return None
    for end in range(len(pts) - 1, changepoints.MIN_POINTS - 1, -1):
        before = _unaccepted_drop(pts[:end], acks, max_p, **kw)
        if before is not None and abs(before.index - held.index) <= 2:
            return held
        if _unaccepted_drop(pts[:end], acks, max(max_p, HOLD_P), **kw) is None:
            return None
    return None


def _unaccepted_drop(pts: list[Point], acks: list[Ack], max_p: float, **kw) -> ChangePoint | None:
    cps = change_points(pts, max_p=max_p, **kw)
    last = cps[-1] if cps else None
    if last is None or last.size >= 0 or _accepted(last, pts, acks):
        return None
    return last


def ack_hint(key: str, profile: str) -> str:
    return (f"if the change is intended, accept it with: python -m suite history ack {key} --profile {profile} "
            f"(or update the baseline)")


# --- drift --------------------------------------------------------------------------------------------------

def reference(series: list[Point], acks: list[Ack] = (), *, config_hash: str | None = None,
              data_fingerprint: str | None = None) -> tuple[float, list[Point]] | None:
    """Drift's reference: the median mean of the first ``REFERENCE_RUNS`` comparable runs since the latest
    acknowledged level (the start of the config's history when none), and those runs; None with fewer."""
    pts = [p for p in comparable(series, config_hash, data_fingerprint) if p.mean is not None]
    start = max((a.level_from for a in acks), default="")
    window = [p for p in pts if p.date >= start][:REFERENCE_RUNS]
    if len(window) < REFERENCE_RUNS:
        return None
    return statistics.median(p.mean for p in window), window


def drift(series: list[Point], current_mean: float, max_drift: float, *, config_hash: str | None = None,
          data_fingerprint: str | None = None, acks: list[Ack] = ()) -> str | None:
    """A failure message when ``current_mean`` is more than ``max_drift`` points below the reference of this
    config (same config hash and data fingerprint; default: the latest point's; see ``reference``), naming the
    baseline updates since the reference that carried the drift; None otherwise (also without enough history)."""
    if current_mean is None or not math.isfinite(current_mean):
        return None
    ref = reference(series, acks, config_hash=config_hash, data_fingerprint=data_fingerprint)
    if ref is None:
        return None
    level, window = ref
    below = level - current_mean
    if below <= max_drift:
        return None
    first, last = window[0], window[-1]
    pts = comparable(series, config_hash, data_fingerprint)
    carried = [p for p in pts if p.date > last.date and p.baseline_updated]
    steps = ", ".join(f"{p.date[:10]} {p.short_commit} {p.mean:.2f} ({p.releases()})" for p in carried)
    since = "since the last acknowledgement" if acks else "this config's first runs"
    return (f"{first.key}: {first.metric} {current_mean:.2f} is {below:.2f} points below the reference {level:.2f} "
            f"(median of the {len(window)} runs {first.date[:10]}..{last.date[:10]}, {since}; from commit "
            f"{first.short_commit}, {first.releases()}), more than --max-drift {max_drift:.2f}; "
            + (f"baseline updates that carried the drift: {steps}" if carried else
               "no baseline update since the reference (a drift of the runs themselves)")
            + f"; {ack_hint(first.key, first.profile)} to reset the reference")


# --- one-call helpers for the session ------------------------------------------------------------------------

def point_of(result: CaseResult, *, run_id: str = "current") -> Point:
    """A result as the Point it would be once stored (not stored)."""
    return _point(dict(record_of(result, run_id=run_id), id=-1))


def _with(series: list[Point], result: CaseResult) -> list[Point]:
    """The series with ``result`` as its latest point (unless it is stored already)."""
    p = point_of(result)
    return series if any(q.record_key == p.record_key for q in series) else [*series, p]


def drift_for(path, result: CaseResult, max_drift: float) -> str | None:
    """The drift gate for one finished case: None when it passes (or the case has too little history)."""
    if not result.ok:
        return None
    return drift(case_series(path, result), result.metric().mean, max_drift,
                 config_hash=result.config_hash, data_fingerprint=result.data_fingerprint or "",
                 acks=case_acks(path, result.profile, result.key))


def change_point_for(path, result: CaseResult) -> str | None:
    """The change-point gate for one finished case: a message while this run lies after a downward step that
    nobody has acknowledged."""
    if not result.ok:
        return None
    cp = latest_change_point(_with(case_series(path, result), result), case_acks(path, result.profile, result.key))
    if cp is None:
        return None
    return (f"{cp.describe()}; the case stays red on every rerun until the step is accepted: "
            f"{ack_hint(result.key, result.profile)}")


# --- acknowledgements ---------------------------------------------------------------------------------------

def case_acks(path, profile: str, key: str) -> list[Ack]:
    """The acknowledgements of one case, oldest first; [] without a database or an acks table (no
    acknowledgement: the gates stay as strict as they are)."""
    if not Path(path).is_file():
        return []
    try:
        con = open_for_read(path)
        with closing(con):
            if "acks" not in _tables(con):
                return []
            _columns(path, con)
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM acks WHERE profile = ? AND case_key = ? ORDER BY id",
                               (profile, key)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise _corrupt(Path(path), exc) from None
    return _acks(path, rows)


def ack(path, case: str, *, profile: str | None = None, note: str = "") -> list[str]:
    """``history ack CASE``: accept the case's current level in every selected profile: every change point up to
    its latest run stops failing --fail-on-change-point, and drift's reference restarts at the last change point
    (the latest run when there is none). Returns one line per acknowledged series."""
    series = load(path, profile=profile, case=case)
    records, out = [], []
    for (prof, key), pts in sorted(series.items()):
        ok = comparable(pts)
        if not ok:
            continue
        cps = change_points(ok)
        level = ok[cps[-1].index] if cps else ok[-1]
        records.append((prof, key, ok[-1].date, level.date, note, _now()))
        out.append(f"{key} (profile {prof}): acknowledged through the run of {ok[-1].date[:19]}; "
                   + (f"accepted step {cps[-1].size:+.2f} points first seen {level.date[:19]} (commit "
                      f"{level.short_commit}); " if cps else "no change point; ")
                   + f"drift's reference restarts at {level.date[:19]}")
    if not records:
        raise SuiteError(f"{case}: no successful run recorded in {path}; nothing to acknowledge.")
    def add(con) -> None:
        for stmt in filter(str.strip, _DDL.split(";")):
            con.execute(stmt)
        con.executemany("INSERT INTO acks (profile, case_key, through_date, level_from, note, added) "
                        "VALUES (?, ?, ?, ?, ?, ?)", records)

    try:
        _write(Path(path), add)
    except sqlite3.DatabaseError as exc:
        raise _corrupt(Path(path), exc) from None
    return out


# --- text for the CLI ---------------------------------------------------------------------------------------

def show(path, *, profile: str | None = None, case: str | None = None) -> str:
    blocks = []
    for (prof, key), pts in sorted(load(path, profile=profile, case=case).items()):
        cps = {id(c.point): c for c in change_points(pts)}
        lines = [f"{key} (profile {prof}, {pts[-1].metric}, {len(pts)} run{'s' if len(pts) != 1 else ''})",
                 "| date | commit | releases | mean ± sd | n | train/s | notes |", "|---|---|---|---|---|---|---|"]
        prev = None
        for p in pts:
            notes = []
            if prev is not None:
                rel = release_changes(prev, p)
                if rel:
                    notes.append("release: " + ", ".join(rel))
                if prev.config_hash != p.config_hash or prev.data_fingerprint != p.data_fingerprint:
                    notes.append("config/data changed")
                if prev.hardware != p.hardware:
                    notes.append(f"hardware {p.hardware}")
            if id(p) in cps:
                c = cps[id(p)]
                notes.append(f"CHANGE POINT {c.size:+.2f} (p={c.p_value:.3f})")
            if p.baseline_updated:
                notes.append("baseline updated")
            value = (f"{p.mean:.2f}" + (f" ± {p.sd:.2f}" if p.n > 1 else " ± -")) if p.ok else f"failed: {p.error}"
            tput = "-" if p.throughput is None else f"{p.throughput:.0f}"
            if p.throughput_per_cpu_s is not None:
                tput += f" ({p.throughput_per_cpu_s:.1f}/cpu-s)"
            lines.append(f"| {p.date[:19]} | {p.short_commit} | {p.releases()} | {value} | {p.n} | {tput} | "
                         f"{'; '.join(notes)} |")
            prev = p
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def blame(path, case: str, *, profile: str | None = None) -> str:
    out = []
    for (prof, key), pts in sorted(load(path, profile=profile, case=case).items()):
        cps = change_points(pts)
        if not cps:
            out.append(f"{key} (profile {prof}): no significant change point in {sum(p.ok for p in pts)} ok runs "
                       f"(E-divisive, p <= {changepoints.MAX_P})")
            continue
        c = max(cps, key=lambda c: abs(c.size))
        p, q = c.point, c.previous
        lines = [f"{key} (profile {prof}): largest change point {c.size:+.2f} points "
                 f"({c.before:.2f} -> {c.after:.2f}, p = {c.p_value:.3f}, {len(cps)} change point(s) in all)",
                 f"  first run after it: {p.date[:19]}, commit {p.commit or '?'}, {p.releases()}, on {p.hardware}",
                 f"  previous run:       {q.date[:19]}, commit {q.commit or '?'}, {q.releases()}, on {q.hardware}"]
        lines += [f"  changed: {what}" for what in c.changed] or ["  changed: nothing recorded (commit, releases, "
                                                                  "hardware, config and data all equal)"]
        out.append("\n".join(lines))
    return "\n\n".join(out)
