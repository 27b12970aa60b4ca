"""Tidy (long) tables of judged results, for pandas and spreadsheets: ``python -m suite report FILE --format csv``.

Two CSV files, each a plain table with one header line:

- ``results_long.csv``: one row per case x seed x metric (quality metrics and the run's speed figures), columns
  ``LONG_COLUMNS``; a failed seed has one row with its status and an empty value.
- ``cases.csv``: one row per case, columns ``CASE_COLUMNS``: the gated metric's mean, sd and n, the floor, the
  baseline, delta, tolerance and verdict, the gap to full fine-tuning of the same run.

``case`` is the case's identity, ``task/method@model``. Numbers are rounded to 4 decimals; an absent figure is an
empty cell (pandas reads it as NaN). ``pandas.read_csv(path)`` needs no options.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from suite.gate.baselines import key_of, write_text_atomic
from suite.gate.verdicts import Row

LONG_COLUMNS = ["profile", "task", "method", "model", "case", "seed", "status", "kind", "metric", "value", "primary"]
CASE_COLUMNS = ["profile", "task", "method", "model", "case", "metric", "mean", "sd", "n", "floor", "baseline",
                "delta", "tolerance", "verdict", "gap_vs_full", "gap_sd", "train_samples_per_s", "trainable_params",
                "config_hash"]
SPEED_FIGURES = ["train_samples_per_s", "train_samples_per_cpu_s", "eval_samples_per_s", "peak_mem_mb"]
LONG_FILE, CASES_FILE = "results_long.csv", "cases.csv"


def _num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return round(float(value), 4)


def _ids(row: Row) -> dict:
    r = row.result
    model = r.config.get("model")
    return {"profile": r.profile, "task": r.task, "method": r.method, "model": model,
            "case": key_of(r.task, r.method, model)}


def long_rows(table_rows: list[Row]) -> list[dict]:
    """One dict per case x seed x metric (``LONG_COLUMNS``)."""
    out = []
    for row in table_rows:
        ids, primary = _ids(row), row.result.primary_metric
        for run in row.result.runs:
            base = {**ids, "seed": run.seed, "status": run.status}
            if run.status != "ok":
                out.append({**base, "kind": "quality", "metric": primary, "value": None, "primary": True})
                continue
            for name in sorted(run.metrics):
                out.append({**base, "kind": "quality", "metric": name, "value": _num(run.metrics[name]),
                            "primary": name == primary})
            for name in SPEED_FIGURES:
                value = _num(getattr(run, name, None))
                if value is not None:
                    out.append({**base, "kind": "speed", "metric": name, "value": value, "primary": False})
    return out


def case_rows(table_rows: list[Row]) -> list[dict]:
    """One dict per case (``CASE_COLUMNS``): the gated metric over the seeds, and the verdict."""
    out = []
    for row in table_rows:
        r, v = row.result, row.verdict
        stat = r.metric()
        params = r.params
        out.append({**_ids(row), "metric": r.primary_metric, "mean": _num(stat.mean) if stat.n else None,
                    "sd": _num(stat.sd) if stat.n > 1 else None, "n": stat.n,
                    "floor": _num(r.floor.get(r.primary_metric)), "baseline": _num(v.baseline),
                    "delta": _num(v.delta), "tolerance": _num(v.tolerance), "verdict": v.status,
                    "gap_vs_full": _num(row.gap), "gap_sd": _num(row.gap_sd),
                    "train_samples_per_s": _num(r.mean_of("train_samples_per_s")) if r.ok else None,
                    "trainable_params": params.trainable if params else None, "config_hash": r.config_hash})
    return out


def _write(path: Path, columns: list[str], records: list[dict]) -> Path:
    """One CSV table, written as every suite file is (``write_text_atomic``: a unique temporary file, through a
    symlink, never over a FIFO or device)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: "" if rec.get(k) is None else rec[k] for k in columns})
    write_text_atomic(path, text.getvalue())
    return path


def write_csv(table_rows: list[Row], out_dir: str | os.PathLike) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_write(out / LONG_FILE, LONG_COLUMNS, long_rows(table_rows)),
            _write(out / CASES_FILE, CASE_COLUMNS, case_rows(table_rows))]
