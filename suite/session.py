"""A benchmark session: options -> cases -> results -> verdicts -> files. Used by the pytest layer and the CLI.

The pytest hooks stay one-liners; everything they do is here so that it can be tested without pytest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import baselines as bl
from . import report
from .engine import run_case
from .errors import SuiteError
from .methods import parse_methods, split_list
from .profiles import CaseSpec, cases, get_profile
from .results import CaseResult
from .tasks import get_task

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINES = ROOT / "baselines"


# --- option parsing (one clear line per mistake) -----------------------------------------------------------

def parse_seeds(text: str) -> tuple[int, ...]:
    items = split_list(text)
    try:
        seeds = tuple(int(s) for s in items)
    except ValueError:
        raise SuiteError(f"Seeds must be integers separated by commas, e.g. --seeds 0,1,2; got '{text}'.") from None
    if not seeds:
        raise SuiteError("--seeds needs at least one integer, e.g. --seeds 0.")
    if len(set(seeds)) != len(seeds):
        raise SuiteError(f"Seeds must be distinct; got '{text}'.")
    return seeds


def parse_tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SuiteError(f"Tolerance must be a number of points (0-100 scale), e.g. --tolerance 0.5; got '{text}'.") from None
    if not math.isfinite(value) or value < 0:
        raise SuiteError(f"Tolerance must be a finite number >= 0 points; got '{text}'.")
    return value


def parse_tasks(text: str) -> tuple[str, ...]:
    return tuple(get_task(t).name for t in split_list(text))


@dataclass
class Options:
    profile: str = "smoke"
    glue_dir: str | None = None
    model: str | None = None
    methods: str | None = None        # comma list; None: the profile's
    tasks: str | None = None
    seeds: tuple[int, ...] | None = None
    tolerance: float | None = None    # overrides entry and profile tolerances
    update_baselines: bool = False
    results_json: str | None = None
    baselines_dir: str = str(DEFAULT_BASELINES)


@dataclass
class BenchSession:
    options: Options
    results: list[CaseResult] = field(default_factory=list)
    _baseline_data: dict | None = None

    def __post_init__(self):
        self.profile = get_profile(self.options.profile)
        self.method_list = parse_methods(self.options.methods) if self.options.methods else None

    @property
    def baseline_file(self) -> Path:
        return bl.baseline_path(self.options.baselines_dir, self.profile.name)

    def cases(self) -> list[CaseSpec]:
        return cases(self.profile, tasks=parse_tasks(self.options.tasks) if self.options.tasks else None,
                     methods=self.method_list, seeds=self.options.seeds, model=self.options.model,
                     glue_dir=self.options.glue_dir)

    def baseline_entries(self) -> dict:
        if self._baseline_data is None:
            self._baseline_data = bl.load(self.baseline_file)
        return self._baseline_data["entries"]

    def run(self, case: CaseSpec, log: Callable[[str], None] | None = None) -> CaseResult:
        return run_case(case, log=log)

    def judge(self, result: CaseResult) -> bl.Verdict:
        return bl.judge(result, self.baseline_entries().get(result.key), tolerance=self.profile.tolerance,
                        tolerance_override=self.options.tolerance, updating=self.options.update_baselines)

    def add(self, result: CaseResult) -> None:
        self.results.append(result)

    def table_rows(self) -> list[report.Row]:
        return report.rows(self.results, {r.key: self.judge(r) for r in self.results})

    def finish(self, *, interrupted: bool = False) -> list[str]:
        """Write the results file and (only when asked, and not after an interrupt) the baselines. Returns messages."""
        lines = []
        rows = self.table_rows()
        if self.options.results_json:
            report.write_results(self.options.results_json, self.profile.name, rows)
            lines.append(f"results written to {self.options.results_json}")
        if self.options.update_baselines:
            if interrupted:
                lines.append(f"interrupted: {self.baseline_file} left untouched")
            elif self.results:
                updated, refused = bl.update(self.baseline_file, self.profile.name, self.results)
                if updated:
                    lines.append(f"{self.baseline_file}: updated {len(updated)} entr{'y' if len(updated) == 1 else 'ies'} "
                                 f"({', '.join(updated)})")
                for r in refused:
                    lines.append(f"{self.baseline_file}: NOT updated for failed run {r}")
        return lines

    def summary(self) -> str:
        rows = self.table_rows()
        if not rows:
            return ""
        hw = (self.results[0].provenance or {}).get("hardware", {})
        head = (f"glue-adapter-bench: profile {self.profile.name}, model {self.results[0].config.get('model')}, "
                f"data {self.results[0].data_origin}, seeds {self.results[0].config.get('seeds')}, "
                f"on {hw.get('name', '?')} ({hw.get('device', '?')} x{hw.get('count', '?')})")
        counts = {}
        for row in rows:
            counts[row.verdict.status] = counts.get(row.verdict.status, 0) + 1
        tail = "verdicts: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        notes = [row.verdict.message for row in rows if row.verdict.status in ("no-baseline", "stale", "failed")]
        return "\n".join([head, report.to_text(rows), tail, *notes])
