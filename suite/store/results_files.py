"""Results files (``--results-json``): writing them, one validated loader for every reader, merging shards.

A results file holds every CaseResult of a run with the verdict, gap and throughput change it was judged with.
``load_results`` is the one loader: the schema below, then the suite's own object checks.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from suite import files
from suite.config.methods import get_method
from suite.config.profiles import get_profile
from suite.config.tasks import get_task
from suite.engine.results import CaseResult, case_key
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import verdicts as vd
from suite.gate.baselines import ENTRY_SCHEMA, locked, one_line, parse_strict, write_atomic, write_target
from suite.gate.verdicts import Row, Verdict, rows

FILE_SCHEMA = 2   # 2: shard_count/shards and the baseline entry each case was judged against; 1: neither
KNOWN_SCHEMAS = (1, 2)
MAX_BYTES = 256 * 2**20  # a results file larger than this is not one the suite wrote (report /dev/zero, say)


UNTRACKED = object()  # write_results(since=...): no state recorded, replace whatever is there


def write_results(path: str | Path, profile: str, table_rows: list[Row], *, shard: tuple[int, int] | None = None,
                  entries: dict | None = None, since=UNTRACKED) -> str:
    """Every CaseResult with its verdict and gap, as plain JSON, with the shard it ran (``shard``: (i, n); None:
    the whole run) and the baseline entry each case was judged against (``entries``: case key -> entry), so that
    a reader recomputes each verdict from the runs.

    Two runs writing one path: the write holds a lock on the file, and when the file changed since ``since``
    (``file_state`` of it when this run started: another run wrote it meanwhile), that run's cases are kept beside
    this one's instead of being lost. Returns a note about such a merge ("" when there was none)."""
    i, n = shard or (1, 1)
    doc = {
        "schema": FILE_SCHEMA,
        "profile": profile,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "shard_count": n, "shards": [i],
        "cases": [{**row.result.to_dict(), "verdict": row.verdict.to_dict(), "gap_vs_full": row.gap,
                   "speed_vs_full": row.speed, "throughput_change_pct": row.throughput_change,
                   "baseline_entry": (entries or {}).get(row.result.key)}
                  for row in table_rows],
    }
    target = write_target(path)
    note = ""
    with locked(target):
        if since is not UNTRACKED and file_state(target) not in (None, since):
            other, note = _concurrent(target, doc)
            if other is not None:
                mine = {_case_id(c) for c in doc["cases"]}
                doc["cases"] += [c for c in other["cases"] if _case_id(c) not in mine]
                doc["shards"] = sorted(set(doc["shards"]) | set(other.get("shards") or []))
        write_atomic(target, finite_or_null(doc))
    return note


def file_state(path) -> tuple | None:
    """What identifies one version of a file (inode, size, mtime); None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _case_id(case: dict) -> str:
    """task/method@model (older files keyed task/method: the model from the config)."""
    key = str(case.get("key"))
    return key if "@" in key else f"{key}@{(case.get('config') or {}).get('model')}"


def _concurrent(path: Path, doc: dict) -> tuple[dict | None, str]:
    """The results file another run wrote at ``path`` while this one ran, when it can be merged with ``doc``."""
    try:
        other = _read_doc(path)
    except SuiteError as exc:
        return None, f"{path} was rewritten by another run meanwhile and cannot be read ({exc}); replaced it"
    if (other.get("profile") != doc["profile"]
            or other.get("shard_count", 1) != doc["shard_count"]):
        return None, (f"{path} was rewritten meanwhile by a run of profile {other.get('profile')} "
                      f"({other.get('shard_count', 1)} shards); replaced it with this run's")
    return other, f"{path} was written by another run meanwhile: its cases were kept beside this run's"


def finite_or_null(value):
    """NaN and infinities become null: strict JSON (the suite's own loaders refuse NaN), and a run whose metric was
    NaN stays readable, judged "failed" (non-finite metric) when loaded."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


_NUM = {"type": "number"}
_OPT_NUM = {"type": ["number", "null"]}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_STRS = {"type": "array", "items": _STR}
RUN_SCHEMA = {
    "type": "object",
    "required": ["seed"],
    "properties": {
        "task": _STR, "method": _STR, "seed": _INT, "status": _STR, "error": _OPT_STR,
        "metrics": {"type": "object", "additionalProperties": _OPT_NUM},  # null: the metric was NaN
        **{k: _NUM for k in ("train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s", "train_time_s",
                             "eval_time_s", "setup_time_s", "peak_mem_mb")},
        "train_samples_per_cpu_s": _OPT_NUM, "steps": _INT, "final_loss": _OPT_NUM, "peak_mem_kind": _STR,
        **{k: _OPT_NUM for k in ("mfu", "mfu_gemm", "gemm_flops_per_s", "flops_per_token",
                                      "train_cpu_time_s")},
        "params": {"type": ["object", "null"], "required": ["total", "trainable", "backbone", "head", "adapter"],
                   "properties": {k: _INT for k in ("total", "trainable", "backbone", "head", "adapter")},
                   "additionalProperties": False},
    },
}
PROVENANCE_SCHEMA = {
    "type": "object",
    "properties": {
        "versions": {"type": "object", "additionalProperties": _OPT_STR},
        "hardware": {"type": "object", "properties": {"fingerprint": _STR, "name": _STR, "device": _STR,
                                                      "count": _INT, "threads": _INT}},
        "git": {"type": "object", "properties": {"commit": _OPT_STR, "dirty": {"type": ["boolean", "null"]}}},
        "date": _OPT_STR,
        "adaptive": {"type": "object"},
    },
}
VERDICT_SCHEMA = {
    "type": ["object", "null"],
    "required": ["key", "status"],
    "properties": {
        "key": _STR, "metric": _STR,
        "status": {"enum": ["pass", "regression", "improved", "degenerate", "failed", "no-baseline", "stale", "updated",
                            "not-gated"]}, "message": _STR, "test": _OPT_STR,
        **{k: _OPT_NUM for k in ("measured", "baseline", "delta", "p_value", "floor", "detectable")},
        "tolerance": {"type": ["number", "null"], "minimum": 0, "maximum": vd.MAX_TOLERANCE},
        "n": _INT, "baseline_n": _INT, "reasons": _STRS, "suspects": _STRS,
    },
}
CASE_SCHEMA = {
    "type": "object",
    "required": ["key", "task", "method", "profile", "primary_metric", "config", "config_hash", "runs"],
    "properties": {
        "key": _STR, "task": _STR, "method": _STR, "profile": _STR, "primary_metric": _STR,
        "config": {"type": "object", "properties": {"model": _OPT_STR, "seeds": {"type": "array", "items": _INT}}},
        "config_hash": _STR, "runs": {"type": "array", "items": RUN_SCHEMA},
        "data_fingerprint": _STR, "data_origin": _STR, "provenance": PROVENANCE_SCHEMA, "prepare_time_s": _NUM,
        "data_cache": _STR, "floor": {"type": "object", "additionalProperties": _NUM}, "schema": _INT,
        "verdict": VERDICT_SCHEMA,
        "gap_vs_full": _OPT_NUM, "speed_vs_full": _OPT_NUM, "throughput_change_pct": _OPT_NUM,
        "baseline_entry": {"anyOf": [{"type": "null"}, ENTRY_SCHEMA]},
    },
}
RESULTS_FILE_SCHEMA = {
    "type": "object",
    "required": ["profile", "cases"],
    # schema 2 files always say which shards they hold: a file stripped of them could hide a missing shard
    "if": {"required": ["schema"], "properties": {"schema": {"const": 2}}},
    "then": {"required": ["shard_count", "shards"]},
    "properties": {"schema": {"enum": list(KNOWN_SCHEMAS)},
                   "profile": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
                   "created": _OPT_STR, "cases": {"type": "array", "items": CASE_SCHEMA},
                   "shard_count": {"type": "integer", "minimum": 1, "maximum": 10000},
                   "shards": {"type": "array", "items": {"type": "integer", "minimum": 1}, "uniqueItems": True,
                              "minItems": 1}},
}


def results_problem(doc) -> str | None:
    """The first problem of a results document, in words (None: valid)."""
    import jsonschema

    try:
        problem = bl.number_problem(doc)  # 1e999, a 400-digit integer: refused before anything sums them
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(RESULTS_FILE_SCHEMA).iter_errors(doc))
    except RecursionError:
        return "nested too deeply"
    if problem or error is None:
        return problem
    return f"{bl.where(error.absolute_path)}: {one_line(error.message)}"


WHAT = "a results file written by pytest benchmarks --results-json PATH"


def _read_doc(path: str | Path) -> dict:
    """A results file's JSON, checked against the schema: the one reader under ``load_results``, ``merge``,
    ``baselines diff/update`` and ``history import``. Every problem is one SuiteError line."""
    path = Path(path)
    try:
        doc = parse_strict(files.read_text(path, limit=MAX_BYTES))
    except files.Unreadable as exc:
        if exc.kind == "missing":
            raise SuiteError(f"Results file {path} does not exist; "
                             "write one with pytest benchmarks --results-json PATH.") from None
        raise SuiteError(f"{path} {exc}; expected {WHAT}.") from None
    except ValueError as exc:
        raise SuiteError(f"{path} is not {WHAT} ({one_line(exc)}).") from None
    if isinstance(doc, dict) and "entries" in doc and "cases" not in doc:
        raise SuiteError(f"{path} is a baseline file, not a results file; pass {WHAT}.")
    if isinstance(doc, dict) and isinstance(doc.get("schema"), int) and doc["schema"] not in KNOWN_SCHEMAS:
        raise SuiteError(f"{path} has results schema {doc['schema']}; this suite reads schemas "
                         f"{', '.join(map(str, KNOWN_SCHEMAS))} (written by another version of the suite?).")
    problem = results_problem(doc)
    if problem:
        raise SuiteError(f"{path} is not {WHAT} ({problem}).")
    return doc


def load_doc(path: str | Path) -> tuple[dict, list[CaseResult]]:
    """A results file, validated: its document and its cases as CaseResults (every field the suite reads checked:
    known profile, task and method, numeric metrics)."""
    doc = _read_doc(path)
    try:
        get_profile(doc["profile"])
    except SuiteError as exc:
        raise SuiteError(f"{path} is not a results file this suite can read ({exc})") from None
    _entries_valid(path, doc)
    _shards_valid(path, doc)
    try:
        results = [CaseResult.from_dict(c) for c in doc["cases"]]
        _known_names(path, results)
        _identities(path, results)
        for r in results:
            r.metric()  # per-seed metrics must be numbers
            _in_range(path, r)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SuiteError(f"{path} is not {WHAT} ({type(exc).__name__}: {one_line(exc)}).") from None
    return doc, results


def load_results(path: str | Path) -> tuple[str, list[Row]]:
    """A file written by --results-json: its profile and rows. Each verdict is recomputed from the case's runs
    (against the baseline entry it was judged with), never taken from the file: a recorded verdict can only make
    a case worse (a recorded regression stays one), never better."""
    return _judged(*load_doc(path), path)


def _judged(doc: dict, results: list[CaseResult], path) -> tuple[str, list[Row]]:
    profile = get_profile(doc["profile"])
    try:
        verdicts = {r.key: rejudge(r, c, profile) for r, c in zip(results, doc["cases"])}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SuiteError(f"{path}: a case cannot be judged ({type(exc).__name__}: {one_line(exc)}); "
                         f"expected {WHAT}.") from None
    tchanges = {r.key: c.get("throughput_change_pct") for r, c in zip(results, doc["cases"])}
    return doc["profile"], rows(results, verdicts, tchanges)


_SEVERITY = {"failed": 6, "degenerate": 5, "regression": 4, "stale": 3, "no-baseline": 3, "not-gated": 2,
             "improved": 1, "updated": 0, "pass": 0}


def rejudge(result: CaseResult, case: dict, profile) -> Verdict:
    """The verdict of one case from its runs: judged against the baseline entry recorded with it (schema 2) or
    the baseline figure its recorded verdict names (schema 1), with the tolerance it was judged with. The
    recorded verdict counts only when it is worse."""
    recorded = Verdict.from_dict(case["verdict"]) if case.get("verdict") else None
    entry = case.get("baseline_entry")
    if entry is None and recorded is not None and isinstance(recorded.baseline, (int, float)):
        entry = {"metric": recorded.metric or result.primary_metric, "mean": recorded.baseline, "n": 1}
    tol = recorded.tolerance if recorded is not None and isinstance(recorded.tolerance, (int, float)) else None
    # judged as a plain run: a recorded "updated" (the run re-recorded its baseline) exempts nothing here
    policy = vd.Policy(tolerance=profile.tolerance_for(result.task), tolerance_override=tol)
    verdict = vd.judge(result, entry, policy)
    if recorded is not None and recorded.status == "updated" and verdict.status in ("pass", "improved"):
        return recorded
    if recorded is None or _SEVERITY[recorded.status] <= _SEVERITY[verdict.status]:
        return verdict
    if recorded.status in vd.FAILING:  # recorded failing, not shown by the runs now: still failing, and says why
        return Verdict(result.key, "failed", verdict.metric, verdict.measured, n=verdict.n, reasons=[
            f"recorded as {recorded.status} when it ran, but its runs in this file give {verdict.status} now "
            "(edited or damaged file?)"])
    verdict.status = recorded.status  # recorded unjudged (stale, no baseline): it compared nothing
    verdict.reasons = [r for r in recorded.reasons if isinstance(r, str)] or [f"recorded as {recorded.status}"]
    return verdict


def _entries_valid(path, doc: dict) -> None:
    """The baseline entry recorded with each case obeys the baseline file's own rules (ranges, finiteness, values
    for n >= 2): a verdict is recomputed against it, so an entry no baseline file could hold is a damaged file."""
    for i, case in enumerate(doc["cases"]):
        entry = case.get("baseline_entry")
        if entry is None:
            continue
        problem = bl.schema_problem({"entries": {str(case.get("key")): entry}})
        if problem:
            raise SuiteError(f"{path}: case {i}: its baseline_entry is not one a baseline file can hold ({problem}); "
                             f"expected {WHAT}.")


def _shards_valid(path, doc: dict) -> None:
    """The shards a file says it holds are shards of its own run (1..shard_count; a whole run is shard 1 of 1), and
    every case is of the file's profile: a file that contradicts its own bookkeeping is a damaged file."""
    n = doc.get("shard_count")
    if n is not None:
        beyond = [i for i in doc["shards"] if i > n]
        if beyond:
            raise SuiteError(f"{path} records shard {beyond[0]} of shard_count {n}: not a shard of its own run; "
                             f"expected {WHAT}.")
    for i, case in enumerate(doc["cases"]):
        if case.get("profile") != doc["profile"]:
            raise SuiteError(f"{path}: case {i} ({case.get('key')}) is of profile {case.get('profile')}, the file of "
                             f"profile {doc['profile']}: a case judged under another profile's tolerances; expected "
                             f"{WHAT}.")


def _identities(path, results: list[CaseResult]) -> None:
    """Each case's key is its task/method@model, and its runs are distinct seeds of its config (all of them, or the
    first ones of an adaptive run): a renamed case or a cherry-picked seed is a damaged file, never a result."""
    for r in results:
        model = (r.config or {}).get("model")
        if r.key not in (case_key(r.task, r.method, model), f"{r.task}/{r.method}"):
            raise SuiteError(f"{path}: case {r.key!r} is not its task/method@model ({case_key(r.task, r.method, model)}"
                             f"); expected {WHAT}.")
        seeds = [run.seed for run in r.runs]
        planned = list((r.config or {}).get("seeds") or seeds)
        adaptive = isinstance(r.provenance, dict) and "adaptive" in r.provenance
        if (len(set(seeds)) != len(seeds) or any(type(s) is not int for s in seeds)
                or seeds != planned[:len(seeds)] or (len(seeds) < len(planned) and not adaptive)):
            raise SuiteError(f"{path}: case {r.key}: its runs have seeds {seeds}, its config seeds {planned}: "
                             f"each planned seed runs once, in order; expected {WHAT}.")


def _in_range(path, r: CaseResult) -> None:
    """Every metric value (per seed, and the floor) inside what the metric can take: points 0..100 (-100..100 for
    correlations). A value outside (1e308, -5) is a damaged file, never a result to judge or to record."""
    values = [(f"seed {run.seed} {k}", k, v) for run in r.runs for k, v in run.metrics.items()]
    values += [(f"floor {k}", k, v) for k, v in (r.floor or {}).items()]
    for where, metric, v in values:
        lo, hi = vd.metric_range(metric)
        if isinstance(v, (int, float)) and not lo <= v <= hi:
            raise SuiteError(f"{path}: case {r.key}: {where} = {v:g} is outside {lo:g}..{hi:g}; expected {WHAT}.")


def _known_names(path, results: list[CaseResult]) -> None:
    """Every case names a known task and a method this suite can read (judging and the gap gate need both)."""
    for i, r in enumerate(results):
        try:
            get_task(r.task)
            get_method(r.method)
        except SuiteError as exc:
            raise SuiteError(f"{path} is not a results file this suite can read (case {i}: {exc})") from None


def merge(paths, *, allow_partial: bool = False) -> tuple[str, list[Row]]:
    """Several results files (shards of one run, say) as one table. Every shard of the run must be there (each
    file records its shard and the shard count), unless ``allow_partial``: a missing shard is named."""
    profile, file_rows, _missing = merge_shards(paths, allow_partial=allow_partial)
    return profile, file_rows


def _note_shards(path, doc: dict, counts: dict, shards_of: dict, allow_partial: bool) -> None:
    if "shard_count" not in doc:  # schema 1: no shard recorded, so a missing shard could not be named
        if not allow_partial:
            raise SuiteError(f"{path} records no shard (results schema 1, written by an older suite): whether shards "
                             "of its run are missing cannot be told. Rerun it with this suite, or pass --allow-partial "
                             "to report the files as they are.")
        return
    counts[path] = doc["shard_count"]
    if doc["shard_count"] == 1:
        return  # a whole run: several whole runs (two models, say) merge as long as no case repeats
    for i in doc.get("shards") or []:
        if i in shards_of:
            raise SuiteError(f"Shard {i}/{doc['shard_count']} is in both {shards_of[i]} and {path}: merge "
                             "each shard once (a retried shard replaces its file).")
        shards_of[i] = path


def _missing_shards(paths, counts: dict, shards_of: dict, allow_partial: bool) -> list[int]:
    """The shard numbers no file holds; a SuiteError when there are some and ``allow_partial`` is off."""
    sharded = {p: n for p, n in counts.items() if n > 1}
    if not sharded:
        return []
    if len(set(sharded.values())) > 1:
        told = ", ".join(f"{p}: {n}" for p, n in sharded.items())
        raise SuiteError(f"These results files come from runs split into different numbers of shards ({told}); "
                         "merge the shards of one run at a time.")
    n = next(iter(sharded.values()))
    bad = [i for i in shards_of if i > n]
    if bad:
        raise SuiteError(f"{shards_of[bad[0]]} records shard {bad[0]} of {n}: not a shard of this run.")
    missing = [i for i in range(1, n + 1) if i not in shards_of]
    if missing and not allow_partial:
        raise SuiteError(f"Shard{'s' if len(missing) > 1 else ''} {', '.join(f'{i}/{n}' for i in missing)} "
                         f"missing: {len(shards_of)} of {n} shards given, so their cases were never compared. "
                         "Pass every shard's results file, or --allow-partial to report the shards given.")
    return missing


def merge_shards(paths, *, allow_partial: bool = False) -> tuple[str, list[Row], list[int]]:
    """``merge``, also returning the missing shard numbers (only ever non-empty with ``allow_partial``)."""
    paths = list(paths)
    if not paths:
        raise SuiteError("No results files given: name one or more files written by --results-json.")
    profiles, by_key, where, shards_of, counts = [], {}, {}, {}, {}
    for path in paths:
        doc, results = load_doc(path)
        if not results and len(paths) > 1:  # alone, it reports "no cases" and fails (suite.gate.outcome)
            raise SuiteError(f"{path} holds no case: a shard or run that compared nothing; rerun it (merging it "
                             "would count its shard as done).")
        profile, file_rows = _judged(doc, results, path)
        profiles.append(profile)
        _note_shards(path, doc, counts, shards_of, allow_partial)
        for row in file_rows:
            key = row.result.key  # task/method@model: the same case from two models is two cases
            if key in by_key:
                raise SuiteError(f"Case {key} is in both {where[key]} and {path}: merge the shards of one run, "
                                 "each case once (a retried shard replaces its file, it is not added to the others).")
            by_key[key], where[key] = row, path
    if len(set(profiles)) > 1:
        raise SuiteError(f"Results files come from different profiles ({', '.join(sorted(set(profiles)))}); "
                         "merge one profile at a time.")
    missing = _missing_shards(paths, counts, shards_of, allow_partial)
    merged = list(by_key.values())
    return profiles[0], rows([r.result for r in merged], {r.result.key: r.verdict for r in merged},
                             {r.result.key: r.throughput_change for r in merged}), missing
