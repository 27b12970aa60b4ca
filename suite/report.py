"""Rendering results: the summary table (terminal and Markdown) and the results JSON.

One row type, pure renderers. The adapter gap is computed here from rows of the same run: for every adapter
row, its primary metric minus full fine-tuning's on the same task (same model, head, data and seeds).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .baselines import Verdict, write_atomic
from .errors import SuiteError
from .results import CaseResult

RESULTS_SCHEMA = 1


@dataclass
class Row:
    result: CaseResult
    verdict: Verdict
    gap: float | None          # adapter minus full fine-tuning, points; None for full or when full did not run
    speed: float | None = None  # adapter train samples/s divided by full fine-tuning's, same run
    throughput_change: float | None = None  # % vs the baseline's figure on this hardware; None: no such figure


def _full_refs(results: list[CaseResult]) -> dict[str, CaseResult]:
    return {r.task: r for r in results if r.method == "full" and r.ok}


def _paired(r: CaseResult, ref: CaseResult | None) -> bool:
    return (r.method != "full" and r.ok and ref is not None and ref.config.get("seeds") == r.config.get("seeds")
            and ref.config.get("model") == r.config.get("model") and ref.data_fingerprint == r.data_fingerprint)


def gaps(results: Iterable[CaseResult]) -> dict[str, float]:
    """key -> gap to full fine-tuning in the same run (same model, data, seeds), on the primary metric."""
    results = list(results)
    full = _full_refs(results)
    return {r.key: r.metric().mean - full[r.task].metric().mean for r in results if _paired(r, full.get(r.task))}


def speed_ratios(results: Iterable[CaseResult]) -> dict[str, float]:
    """key -> training samples/s of the method divided by full fine-tuning's in the same run."""
    results = list(results)
    full = _full_refs(results)
    return {r.key: r.mean_of("train_samples_per_s") / full[r.task].mean_of("train_samples_per_s")
            for r in results if _paired(r, full.get(r.task)) and full[r.task].mean_of("train_samples_per_s") > 0}


def rows(results: Iterable[CaseResult], verdicts: dict[str, Verdict],
         throughput_changes: dict[str, float | None] | None = None) -> list[Row]:
    results = list(results)
    g, sp = gaps(results), speed_ratios(results)
    tc = throughput_changes or {}
    return [Row(r, verdicts[r.key], g.get(r.key), sp.get(r.key), tc.get(r.key)) for r in results]


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


def to_text(table_rows: list[Row]) -> str:
    body = [list(COLUMNS)] + [_cells(r) for r in table_rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
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
    write_atomic(path, doc)


def load_results(path: str | Path) -> tuple[str, list[Row]]:
    """A file written by --results-json: its profile and rows (verdicts as judged when it ran)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        results = [CaseResult.from_dict(c) for c in doc["cases"]]
        verdicts = [Verdict.from_dict(c["verdict"]) if c.get("verdict") else Verdict(r.key, "unknown")
                    for c, r in zip(doc["cases"], results)]
        profile = doc["profile"]
    except FileNotFoundError:
        raise SuiteError(f"Results file {path} does not exist; write one with pytest benchmarks --results-json PATH.") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path} is not a results file written by --results-json ({type(exc).__name__}: {exc}).") from None
    return profile, rows(results, {r.key: v for r, v in zip(results, verdicts)},
                         {r.key: c.get("throughput_change_pct") for r, c in zip(results, doc["cases"])})


def merge(paths) -> tuple[str, list[Row]]:
    """Several results files (shards of one run, say) as one table: later files win for a repeated case."""
    profiles, by_key = [], {}
    for path in paths:
        profile, file_rows = load_results(path)
        profiles.append(profile)
        by_key.update({row.result.key: row for row in file_rows})
    if len(set(profiles)) > 1:
        raise SuiteError(f"Results files come from different profiles ({', '.join(sorted(set(profiles)))}); "
                         "merge one profile at a time.")
    merged = list(by_key.values())
    return profiles[0] if profiles else "", rows([r.result for r in merged], {r.result.key: r.verdict for r in merged},
                                                   {r.result.key: r.throughput_change for r in merged})
