"""pytest-benchmark's JSON (``--benchmark-json``), written by the suite itself where pytest-benchmark cannot.

Under pytest-xdist pytest-benchmark disables itself and writes no file; the pytest layer then calls ``document``
and ``write`` on the controller, from the collected results. The layout is pytest-benchmark's (machine_info,
commit_info, benchmarks with group, name, fullname, params, param, extra_info, options, stats; datetime,
version), so tools that read its files read this one. Each case is one round: its stats are that round's wall
time, with no spread.

``params.case`` is a plain string in every file, the case's identity ``task/method@model``: here (xdist) and in
pytest-benchmark's own files (serial runs, through ``plain_params`` in the plugin's
``pytest_benchmark_update_json``), so that ``pytest-benchmark compare --group-by param:case`` keeps a case together.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

from suite.config.profiles import CaseSpec
from suite.gate import verdicts as vd
from suite.gate.baselines import key_of, write_text_atomic
from suite.gate.verdicts import Row


def one_round_stats(seconds: float) -> dict:
    """pytest-benchmark's stats fields for a single round of one iteration."""
    s = float(seconds)
    return {"min": s, "max": s, "mean": s, "stddev": 0, "rounds": 1, "median": s, "iqr": 0.0, "q1": s, "q3": s,
            "iqr_outliers": 0, "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": s, "hd15iqr": s,
            "ops": 1 / s if s > 0 else 0, "total": s, "data": [s], "iterations": 1}


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def case_name(task: str, method: str, model) -> str:
    """The plain-string ``params.case`` of a benchmark: the case's identity."""
    return key_of(task, method, model)


def plain_params(params: dict | None) -> dict | None:
    """pytest-benchmark's ``params`` with the suite's parametrized objects as plain strings: a CaseSpec becomes
    ``task/method@model``, a diagnose sweep's (CaseSpec, factor) ``task/method@model:factor``. Anything else is
    kept as it is."""
    if not params:
        return params
    out = dict(params)
    for name, value in params.items():
        if isinstance(value, CaseSpec):
            out[name] = case_name(value.task, value.method, value.model)
        elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], CaseSpec):
            spec, factor = value
            out[name] = f"{case_name(spec.task, spec.method, spec.model)}:{factor}"
    return out


def document(table_rows: list[Row], timed: dict[str, tuple[str, float]], *, machine_info: dict, commit_info: dict,
             version: str) -> dict:
    """``timed``: result key -> (test node id, seconds of the timed call). Cases without a timing (a crash before
    the timed call ended) are left out, as pytest-benchmark leaves out benchmarks with an error."""
    benchmarks = []
    for row in table_rows:
        key = row.result.key
        if key not in timed:
            continue
        nodeid, seconds = timed[key]
        name = nodeid.rsplit("::", 1)[-1]
        param = name.split("[", 1)[1][:-1] if "[" in name else None
        extra = {k: _clean(v) for k, v in row.result.summary().items()}
        extra.update(vd.row_fields(row.verdict, row.gap))
        case = case_name(row.result.task, row.result.method, row.result.config.get("model"))
        benchmarks.append({
            "group": None, "name": name, "fullname": nodeid, "params": {"case": case} if param else None,
            "param": param, "extra_info": extra,
            "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 1, "max_time": 0,
                        "min_time": 0, "warmup": False},
            "stats": one_round_stats(seconds),
        })
    return {"machine_info": machine_info, "commit_info": commit_info, "benchmarks": benchmarks,
            "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(), "version": version}


def write(path: str | Path, doc: dict) -> None:
    """Atomically, through a symlink; a FIFO or device is refused (suite.gate.baselines.write_text_atomic)."""
    write_text_atomic(path, json.dumps(doc, indent=4, default=str, ensure_ascii=True))
