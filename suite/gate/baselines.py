"""Baseline files: load, validate, key, update. Judging lives in ``suite.gate.verdicts``.

One JSON file per profile, ``baselines/<profile>.json``, pretty-printed with sorted keys so that an update reads
well in review. Entries are keyed by what they measure: ``task/method@model`` (a run with another model neither
overwrites nor stales the profile's entries). Files are only ever written by an explicit update: the new content
goes to a temporary file in the same folder and is renamed over the old one (never half-written), under an
exclusive lock so that concurrent updaters lose no entry. Fields the suite does not know are kept.

Every field the suite reads is validated by a declared JSON Schema (``ENTRY_SCHEMA``) when the file is loaded,
before any training: finite numbers only (NaN and Infinity are refused), metric values inside the metric's
range, no duplicate keys. A broken file is one line with its path, the problem and how to restore it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from suite import files
from suite.engine.results import CaseResult, case_key
from suite.errors import SuiteError, shown
from suite.gate.verdicts import MAX_TOLERANCE, metric_range

SCHEMA = 2   # 2: entries keyed task/method@model, with the floor; 1: task/method
KNOWN_SCHEMAS = (1, 2)
NUMBER_BOUND = 1e18  # every number in a state file: finite and within this (sums and squares of them stay finite)

_NUM = {"type": "number"}
_NONNEG = {"type": "number", "minimum": 0}
_RATE = {"type": "number", "minimum": 0, "maximum": 1}
# written by `python -m suite calibrate --write-baselines` (suite.gate.calibration); other keys are kept as they are
NOISE_SCHEMA = {
    "type": "object",
    "properties": {
        "sd": _NONNEG, "n_seeds": {"type": "integer", "minimum": 2}, "values": {"type": "array", "items": _NUM},
        "detectable_drop": {"type": ["number", "null"], "minimum": 0}, "false_alarm": _RATE, "power": _RATE,
        "at_seeds": {"type": "integer", "minimum": 1}, "at_tolerance": _NONNEG,
        "detect_target": _NONNEG, "recommended_seeds": {"type": ["integer", "null"], "minimum": 1},
        "recommended_tolerance": {"type": ["number", "null"], "minimum": 0},
        "measured": {"type": ["string", "null"]}, "config_hash": {"type": "string"},
    },
}
ENTRY_SCHEMA = {
    "type": "object",
    "required": ["metric", "mean"],
    "properties": {
        "metric": {"type": "string", "minLength": 1},
        "mean": _NUM,
        "sd": _NONNEG,
        "n": {"type": "integer", "minimum": 1},
        "values": {"type": "array", "items": _NUM, "minItems": 1},
        "metrics": {"type": "object", "additionalProperties": _NUM},
        "floor": _NUM,
        "tolerance": {"type": "number", "minimum": 0, "maximum": MAX_TOLERANCE},
        "config_hash": {"type": "string"},
        "config": {"type": "object"},
        "data_fingerprint": {"type": "string"},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        "throughput": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": _NONNEG}},
        "provenance": {"type": "object", "properties": {
            "seeds": {"type": "array", "items": {"type": "integer"}},
            "date": {"type": ["string", "null"]}, "git_commit": {"type": ["string", "null"]},
            "hardware": {"type": ["string", "null"]}, "data_origin": {"type": ["string", "null"]}}},
        "noise": NOISE_SCHEMA,
    },
}
FILE_SCHEMA = {
    "type": "object",
    "required": ["entries"],
    "properties": {"schema": {"enum": list(KNOWN_SCHEMAS)}, "profile": {"type": "string"},
                   "entries": {"type": "object", "additionalProperties": ENTRY_SCHEMA}},
}


def entry_key(result: CaseResult) -> str:
    """What an entry measures: ``task/method@model``."""
    return key_of(result.task, result.method, result.config.get("model"))


def key_of(task: str, method: str, model) -> str:
    return case_key(task, method, model)


# --- files -------------------------------------------------------------------------------------------------

def baseline_path(directory: str | os.PathLike, profile: str) -> Path:
    return Path(directory) / f"{profile}.json"


def load(path: str | os.PathLike) -> dict:
    """The whole file as a dict; an empty store when the file does not exist. A broken file is a SuiteError."""
    path = Path(path)
    fix = f"Restore it with `git checkout -- {path}` or delete it and re-record with --update-baselines."
    if not path.exists() and not path.is_symlink():
        return {"schema": SCHEMA, "entries": {}}
    try:
        text = files.read_text(path)
    except files.Unreadable as exc:
        hint = {"folder": "Move it away; baselines are <profile>.json files.",
                "special": "Move it away; baselines are <profile>.json files.",
                "os": "Check its permissions."}.get(exc.kind, fix)
        raise SuiteError(f"Baseline file {path} {exc}. {hint}") from None
    try:
        data = parse_strict(text)
    except ValueError as exc:
        raise SuiteError(f"Baseline file {path} is not valid JSON ({one_line(exc)}). {fix}") from None
    problem = schema_problem(data)
    if problem:
        raise SuiteError(f"Baseline file {path} is not a valid baseline file ({problem}). {fix}")
    return data


def one_line(exc, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def parse_strict(text: str):
    """JSON as the suite accepts it: no NaN/Infinity, no duplicate keys, no absurd nesting. ValueError otherwise."""
    def no_constants(name):
        raise ValueError(f"{name} is not a number the suite accepts")

    def no_duplicates(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {k!r}")
            seen[k] = v
        return seen

    try:
        return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates, parse_float=_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class _Overflowed(float):
    """A number literal too large for a float (1e999): infinite, and shown as it was written."""

    def __new__(cls, text: str):
        obj = super().__new__(cls, text)
        obj.text = text
        return obj

    def __repr__(self):
        return self.text

    __str__ = __repr__


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _Overflowed(text)


def where(path) -> str:
    """A JSON path as a message names it: keys that hold control characters quoted (a key may hold a newline)."""
    return "/".join(repr(p) if isinstance(p, str) and not p.isprintable() else str(p) for p in path) or "top level"


def number_problem(doc) -> str | None:
    """The first number of a parsed document that is not finite or beyond ``NUMBER_BOUND`` (a 400-digit integer,
    1e999, 1.5e308 whose sum overflows), named by its path; None when every number is in bounds."""
    stack = [(doc, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                -NUMBER_BOUND <= value <= NUMBER_BOUND):  # exact for integers of any size; NaN fails too
            text = str(value) if isinstance(value, float) else f"{str(value)[:12]}... ({len(str(abs(value)))} digits)"
            return f"{where(path)}: {text} is out of range (numbers in the suite's files are finite, within ±1e18)"
    return None


def schema_problem(data) -> str | None:
    """The first problem of a baseline document, in words (None: valid): the schema, then finiteness and ranges."""
    import jsonschema

    try:
        problem = number_problem(data)
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(FILE_SCHEMA).iter_errors(data))
    except RecursionError:
        return "nested too deeply"
    if problem:
        return problem
    if isinstance(data, dict) and data.get("schema", SCHEMA) not in KNOWN_SCHEMAS:
        return (f"baseline schema {shown(data['schema'])}; this suite reads schemas "
                f"{', '.join(map(str, KNOWN_SCHEMAS))} (written by another version of the suite?)")
    if error is not None:
        return f"{where(error.absolute_path)}: {one_line(error.message)}"
    return next(filter(None, (_entry_problem(key, entry) for key, entry in data["entries"].items())), None)


def _entry_problem(key: str, entry: dict) -> str | None:
    """What the schema cannot say of one entry: metric values in the metric's range, n and values agreeing."""
    checks = [("mean", entry["mean"]), ("floor", entry.get("floor"))]
    checks += [(f"values[{i}]", v) for i, v in enumerate(entry.get("values") or [])]
    checks += [(f"metrics.{k}", v) for k, v in (entry.get("metrics") or {}).items()]
    for name, value in checks:
        if value is None:
            continue
        lo, hi = metric_range(name.split(".", 1)[1] if name.startswith("metrics.") else entry["metric"])
        if not math.isfinite(value) or not lo <= value <= hi:
            return f"entry '{key}': {name} = {value} is outside {lo:g}..{hi:g}"
    if entry.get("n", 1) >= 2 and "values" not in entry:
        return (f"entry '{key}': n = {entry['n']} but no per-seed 'values' (the gate pairs seeds; a mean and sd "
                "alone would let any sd hide a drop)")
    if "n" in entry and "values" in entry and entry["n"] != len(entry["values"]):
        return f"entry '{key}': n = {entry['n']} but {len(entry['values'])} values"
    seeds = (entry.get("provenance") or {}).get("seeds")
    if seeds is not None and "values" in entry and len(seeds) != len(entry["values"]):
        return f"entry '{key}': {len(seeds)} seeds but {len(entry['values'])} values"
    return None


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_target(path: str | os.PathLike) -> Path:
    """The file a write of ``path`` replaces: a symlink is followed (the link stays a link, its target is updated;
    a dangling link creates its target), and anything that is not a regular file (a folder, /dev/stdout, a FIFO) is
    refused, never replaced by a regular file."""
    path = Path(path)
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if any(str(p).startswith(("/dev/", "/proc/")) for p in (Path(os.path.abspath(path)), target)):
            raise SuiteError(f"{path} is a special file (it links to {target}), not a regular file: the suite writes "
                             "files by replacing them, so it refuses to write there. Name a regular file.")
        path = target
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "a special file (device, FIFO or socket)"
        raise SuiteError(f"{path} is {kind}, not a regular file: the suite writes files by replacing them, so it "
                         "refuses to write there. Name a regular file.")
    return path


def write_atomic(path: str | os.PathLike, data: dict) -> None:
    write_text_atomic(path, dumps(data))


def write_text_atomic(path: str | os.PathLike, text: str | bytes) -> None:
    """Write ``text`` (or bytes) to a temporary file beside ``path`` and rename it over ``path`` (through a symlink, see
    ``write_target``): a reader sees the old file or the new one, never half of one. A failure (disk full, say) is
    one SuiteError that names the file; the old content stays."""
    path = write_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SuiteError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    try:
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())  # mkstemp makes 0600
        with (os.fdopen(fd, "wb") if isinstance(text, bytes) else os.fdopen(fd, "w", encoding="utf-8")) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise SuiteError(f"Cannot write {path}: {exc.strerror or exc} (the previous content, if any, is "
                             "unchanged).") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive advisory lock on ``<path>.lock`` for read-modify-write cycles."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    # never truncate (a symlink's target would be emptied), never follow a link, never block opening a FIFO
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise SuiteError(f"Cannot take the lock {lock_path} ({exc.strerror}): it must be a plain file (or absent); "
                         "move away what is there.") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SuiteError(f"The lock {lock_path} is not a plain file (a FIFO, device or socket); move it away.")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --- entries ------------------------------------------------------------------------------------------------

def entry_from_result(result: CaseResult) -> dict:
    stat = result.metric()
    prov = result.provenance or {}
    hw = prov.get("hardware", {})
    floor = (result.floor or {}).get(result.primary_metric)
    entry = {
        "metric": result.primary_metric,
        "mean": round(stat.mean, 4),
        "sd": round(stat.sd, 4),
        "n": stat.n,
        "values": [round(v, 4) for v in stat.values],
        "metrics": {k: round(result.metric(k).mean, 4) for k in sorted({k for r in result.runs for k in r.metrics})},
        "config_hash": result.config_hash,
        "config": result.config,
        "data_fingerprint": result.data_fingerprint,
        "versions": {k: v for k, v in prov.get("versions", {}).items()},
        "throughput": {hw.get("fingerprint", "unknown"): {
            "train_samples_per_s": round(result.mean_of("train_samples_per_s"), 2),
            "eval_samples_per_s": round(result.mean_of("eval_samples_per_s"), 2),
            **({"train_samples_per_cpu_s": round(cpu, 2)} if (cpu := _cpu_rate(result)) else {})}},
        "provenance": {"date": prov.get("date"), "git_commit": (prov.get("git") or {}).get("commit"),
                       "hardware": hw.get("fingerprint"), "seeds": [r.seed for r in result.runs if r.status == "ok"],
                       "data_origin": result.data_origin},
    }
    if floor is not None:
        entry["floor"] = round(float(floor), 4)
    return entry


def _rewrite(path: str | os.PathLike, changes, *, profile: str | None = None) -> tuple[list[str], list[str]]:
    """Read-modify-write under the lock: ``changes`` yields (key, new entry or a refusal reason, given the current
    entries); an entry the file's own validation refuses is never written; nothing is written when nothing
    changed. Returns (written keys, refused lines)."""
    path = write_target(path)
    written, refused = [], []
    with locked(path):
        data = load(path)
        if profile is not None:
            data["schema"] = SCHEMA
            data.setdefault("profile", profile)
        for key, entry in changes(data["entries"]):
            problem = entry if isinstance(entry, str) else schema_problem({"entries": {key: entry}})
            if problem:
                refused.append(f"{key} ({problem})")
                continue
            data["entries"][key] = entry
            written.append(key)
        if written:
            write_atomic(path, data)
    return written, refused


def set_noise(path: str | os.PathLike, blocks: dict[str, dict]) -> tuple[list[str], list[str]]:
    """Write calibration figures as the ``noise`` block of existing entries (key -> block), keeping every other
    field, under the same lock and atomic rename as ``update``. Returns (written keys, refused lines): a key with
    no entry, or a block the file's validation refuses, is not written; nothing is written when none is left."""
    def changes(entries):
        for key, block in blocks.items():
            if key not in entries:
                yield key, "no baseline entry to attach the figures to: record one with --update-baselines first"
            else:
                yield key, {**entries[key], "noise": {**(entries[key].get("noise") or {}), **block}}

    return _rewrite(path, changes)


def _cpu_rate(result: CaseResult) -> float | None:
    vals = [r.train_samples_per_cpu_s for r in result.runs if r.status == "ok" and r.train_samples_per_cpu_s]
    return sum(vals) / len(vals) if vals else None


def update(path: str | os.PathLike, profile: str, results: Iterable[CaseResult],
           refuse: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Rewrite the entries of the given results, keep everything else. Returns (updated keys, refused lines).

    ``refuse``: result key -> why it must not be recorded (failed, degenerate: decided by ``suite.gate.verdicts``).
    Whatever the caller says, an entry that would not pass the file's own validation is never written."""
    refuse = refuse or {}

    def changes(entries):
        for result in results:
            key = entry_key(result)
            if not result.ok or result.key in refuse:
                yield key, str(refuse.get(result.key) or result.error)
                continue
            entry = dict(entries.get(key, {}))
            new = entry_from_result(result)
            new["throughput"] = {**(entry.get("throughput") or {}), **new["throughput"]}  # other hardware stays
            entry.update(new)  # unknown fields (and a hand-set tolerance) stay
            yield key, entry

    return _rewrite(path, changes, profile=profile)
