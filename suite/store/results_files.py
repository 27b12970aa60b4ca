"""Results files (``--results-json``): writing them, one validated loader for every reader, merging shards.

A results file holds every CaseResult of a run with the verdict, gap and throughput change it was judged with.
``load_results`` is the one loader: the schema below, then the suite's own object checks.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from suite.config.methods import get_method
from suite.config.tasks import get_task
from suite.engine.results import RESULTS_SCHEMA, CaseResult
from suite.errors import SuiteError
from suite.gate.baselines import one_line, parse_strict, write_atomic
from suite.gate.verdicts import Row, Verdict, rows


def write_results(path: str | Path, profile: str, table_rows: list[Row]) -> None:
    """Every CaseResult with its verdict and gap, as plain JSON."""
    doc = {
        "schema": RESULTS_SCHEMA,
        "profile": profile,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "cases": [{**row.result.to_dict(), "verdict": row.verdict.to_dict(), "gap_vs_full": row.gap,
                   "speed_vs_full": row.speed, "throughput_change_pct": row.throughput_change}
                  for row in table_rows],
    }
    write_atomic(path, finite_or_null(doc))


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
VERDICT_SCHEMA = {
    "type": ["object", "null"],
    "required": ["key", "status"],
    "properties": {
        "key": _STR, "status": _STR, "metric": _STR, "message": _STR, "test": _OPT_STR,
        **{k: _OPT_NUM for k in ("measured", "baseline", "tolerance", "delta", "p_value", "floor", "detectable")},
        "n": _INT, "baseline_n": _INT, "reasons": _STRS, "suspects": _STRS,
    },
}
CASE_SCHEMA = {
    "type": "object",
    "required": ["key", "task", "method", "profile", "primary_metric", "config", "config_hash", "runs"],
    "properties": {
        "key": _STR, "task": _STR, "method": _STR, "profile": _STR, "primary_metric": _STR,
        "config": {"type": "object"}, "config_hash": _STR, "runs": {"type": "array", "items": RUN_SCHEMA},
        "data_fingerprint": _STR, "data_origin": _STR, "provenance": {"type": "object"}, "prepare_time_s": _NUM,
        "data_cache": _STR, "floor": {"type": "object", "additionalProperties": _NUM}, "schema": _INT,
        "verdict": VERDICT_SCHEMA,
        "gap_vs_full": _OPT_NUM, "speed_vs_full": _OPT_NUM, "throughput_change_pct": _OPT_NUM,
    },
}
RESULTS_FILE_SCHEMA = {
    "type": "object",
    "required": ["profile", "cases"],
    "properties": {"schema": _INT, "profile": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
                   "created": _OPT_STR, "cases": {"type": "array", "items": CASE_SCHEMA}},
}


def results_problem(doc) -> str | None:
    """The first problem of a results document, in words (None: valid)."""
    import jsonschema

    try:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(RESULTS_FILE_SCHEMA).iter_errors(doc))
    except RecursionError:
        return "nested too deeply"
    if error is None:
        return None
    where = "/".join(repr(p) if isinstance(p, str) and not p.isprintable() else str(p)
                         for p in error.absolute_path) or "top level"  # repr: a key may hold a newline
    return f"{where}: {one_line(error.message)}"


def load_results(path: str | Path) -> tuple[str, list[Row]]:
    """A file written by --results-json: its profile and rows (verdicts as judged when it ran)."""
    path = Path(path)
    what = "a results file written by pytest benchmarks --results-json PATH"
    try:
        doc = parse_strict(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"Results file {path} does not exist; "
                         "write one with pytest benchmarks --results-json PATH.") from None
    except IsADirectoryError:
        raise SuiteError(f"{path} is a folder; expected {what}.") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SuiteError(f"{path} is not {what} ({one_line(exc)}).") from None
    if isinstance(doc, dict) and "entries" in doc and "cases" not in doc:
        raise SuiteError(f"{path} is a baseline file, not a results file; pass {what}.")
    problem = results_problem(doc)
    if problem:
        raise SuiteError(f"{path} is not {what} ({problem}).")
    try:
        if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
            raise TypeError("no 'cases' list")
        profile = doc["profile"]
        if not isinstance(profile, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", profile):
            raise TypeError(f"profile {str(profile)[:40]!r} is not a profile name")
        results = [CaseResult.from_dict(c) for c in doc["cases"]]
        _known_names(path, results)
        for r in results:
            if not isinstance(r.key, str) or not isinstance(r.config, dict) or not isinstance(r.runs, list):
                raise TypeError("a case lacks key, config or runs")
            r.metric()  # per-seed metrics must be numbers
        verdicts = [Verdict.from_dict({**c["verdict"], "key": r.key}) if c.get("verdict") else Verdict(r.key, "unknown")
                    for c, r in zip(doc["cases"], results)]  # key: task/method@model, also from older files
        tchanges = {r.key: c.get("throughput_change_pct") for r, c in zip(results, doc["cases"])}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SuiteError(f"{path} is not {what} ({type(exc).__name__}: {one_line(exc)}).") from None
    return profile, rows(results, {r.key: v for r, v in zip(results, verdicts)}, tchanges)


def _known_names(path, results: list[CaseResult]) -> None:
    """Every case names a known task and a method this suite can read (judging and the gap gate need both)."""
    for i, r in enumerate(results):
        try:
            get_task(r.task)
            get_method(r.method)
        except SuiteError as exc:
            raise SuiteError(f"{path} is not a results file this suite can read (case {i}: {exc})") from None


def merge(paths) -> tuple[str, list[Row]]:
    """Several results files (shards of one run, say) as one table: later files win for a repeated case."""
    paths = list(paths)
    if not paths:
        raise SuiteError("No results files given: name one or more files written by --results-json.")
    profiles, by_key, where = [], {}, {}
    for path in paths:
        profile, file_rows = load_results(path)
        profiles.append(profile)
        for row in file_rows:
            key = row.result.key  # task/method@model: the same case from two models is two cases
            if key in by_key:
                raise SuiteError(f"Case {key} is in both {where[key]} and {path}: merge the shards of one run, "
                                 "each case once (a retried shard replaces its file, it is not added to the others).")
            by_key[key], where[key] = row, path
    if len(set(profiles)) > 1:
        raise SuiteError(f"Results files come from different profiles ({', '.join(sorted(set(profiles)))}); "
                         "merge one profile at a time.")
    merged = list(by_key.values())
    return profiles[0] if profiles else "", rows([r.result for r in merged], {r.result.key: r.verdict for r in merged},
                                                   {r.result.key: r.throughput_change for r in merged})
