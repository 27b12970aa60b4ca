"""Rendering results: the summary table (terminal and Markdown) and the results JSON.

Pure renderers over ``suite.gate.verdicts.Row``: every number they show (verdict, gap, speed ratio) was computed by
``suite.gate.verdicts``; nothing here judges.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from suite.gate.baselines import one_line, parse_strict, write_atomic
from suite.errors import SuiteError
from suite.engine.results import CaseResult
from suite.gate.verdicts import Row, Verdict, rows

RESULTS_SCHEMA = 1


COLUMNS = ("task", "method", "metric", "value", "baseline", "delta", "tol", "verdict", "gap_vs_full",
           "train/s", "eval/s", "speed_vs_full", "trainable%")


def _cells(row: Row) -> list[str]:
    r, v = row.result, row.verdict
    if r.ok:
        s = r.metric()
        value = f"{s.mean:.2f}" + (f"±{s.sd:.2f}" if s.n > 1 else "")
    else:
        value = "-"
    p = r.params
    return [
        r.task, r.method, r.primary_metric, value,
        "-" if v.baseline is None else f"{v.baseline:.2f}",
        "-" if v.delta is None else f"{round(v.delta, 2) + 0.0:+.2f}",  # no "-0.00"
        "-" if v.tolerance is None else f"{v.tolerance:.2f}",
        v.status,
        "-" if row.gap is None else f"{row.gap:+.2f}",
        f"{r.mean_of('train_samples_per_s'):.0f}" if r.ok else "-",
        f"{r.mean_of('eval_samples_per_s'):.0f}" if r.ok else "-",
        "-" if row.speed is None else f"{row.speed:.2f}x",
        f"{p.trainable_pct:.2f}" if p else "-",
    ]


# Narrow terminals: first the headers shorten, then columns go in this order (the first goes first) until the table
# fits; task, method, value and verdict always stay. The full table is in the results file and the report.
SHORT = {"baseline": "base", "gap_vs_full": "gap", "speed_vs_full": "speed", "trainable%": "train%"}
DROP_ORDER = ("eval/s", "trainable%", "speed_vs_full", "tol", "metric", "train/s", "baseline", "delta",
              "gap_vs_full")
METHOD_CAP = 24  # a long adapters config string is cut to this before any column goes


def _layout(body: list[list[str]]) -> list[str]:
    widths = [max(len(line[i]) for line in body) for i in range(len(body[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _cut(body: list[list[str]], col: int, cap: int) -> None:
    for line in body[1:]:
        if len(line[col]) > cap:
            line[col] = line[col][:cap - 1] + "~"


def to_text(table_rows: list[Row], width: int | None = None) -> str:
    """The summary table; with ``width``, made to fit that many columns (headers shortened, then the least
    important columns dropped, then long method names cut), with a note naming what was left out."""
    body = [list(COLUMNS)] + [_cells(r) for r in table_rows]
    lines = _layout(body)
    if width is None or max(map(len, lines)) <= width:
        return "\n".join(lines)
    body[0] = [SHORT.get(c, c) for c in COLUMNS]
    _cut(body, COLUMNS.index("method"), METHOD_CAP)
    keep = list(range(len(COLUMNS)))
    dropped: list[str] = []
    for name in DROP_ORDER:
        lines = _layout([[line[i] for i in keep] for line in body])
        if max(map(len, lines)) <= width:
            break
        keep.remove(COLUMNS.index(name))
        dropped.append(name)
    sub = [[line[i] for i in keep] for line in body]
    lines = _layout(sub)
    over = max(map(len, lines)) - width
    if over > 0:  # still too wide: cut the method column further, keeping 8 characters
        m = keep.index(COLUMNS.index("method"))
        _cut(sub, m, max(8, max(len(line[m]) for line in sub) - over))
        lines = _layout(sub)
    if dropped:
        import textwrap

        lines += textwrap.wrap(f"({len(dropped)} column{'s' if len(dropped) > 1 else ''} left out to fit {width} "
                               f"columns: {', '.join(dropped)}; the results file and report have them)", width)
    return "\n".join(lines)


def to_markdown(table_rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in table_rows]
    return "\n".join(lines)


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
        raise SuiteError(f"Results file {path} does not exist; write one with pytest benchmarks --results-json PATH.") from None
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
        verdicts = [Verdict.from_dict(c["verdict"]) if c.get("verdict") else Verdict(r.key, "unknown")
                    for c, r in zip(doc["cases"], results)]
        tchanges = {r.key: c.get("throughput_change_pct") for r, c in zip(results, doc["cases"])}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SuiteError(f"{path} is not {what} ({type(exc).__name__}: {one_line(exc)}).") from None
    return profile, rows(results, {r.key: v for r, v in zip(results, verdicts)}, tchanges)


def _known_names(path, results: list[CaseResult]) -> None:
    """Every case names a known task and a method this suite can read (judging and the gap gate need both)."""
    from suite.config.methods import get_method
    from suite.config.tasks import get_task

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
            key = f"{row.result.key}@{row.result.config.get('model')}"
            if key in by_key:
                raise SuiteError(f"Case {key} is in both {where[key]} and {path}: merge the shards of one run, each case "
                                 "once (a retried shard replaces its file, it is not added to the others).")
            by_key[key], where[key] = row, path
    if len(set(profiles)) > 1:
        raise SuiteError(f"Results files come from different profiles ({', '.join(sorted(set(profiles)))}); "
                         "merge one profile at a time.")
    merged = list(by_key.values())
    return profiles[0] if profiles else "", rows([r.result for r in merged], {r.result.key: r.verdict for r in merged},
                                                   {r.result.key: r.throughput_change for r in merged})
