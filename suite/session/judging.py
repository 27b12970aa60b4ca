"""How a session's results are judged: its baseline entries, the verdict policy, the gates (gap, throughput,
history) and the table of judged rows; ``outcome`` hands everything to suite.gate.outcome, which decides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.config.options import Options
from suite.config.profiles import Profile
from suite.engine.results import CaseResult
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import outcome
from suite.gate import verdicts as vd
from suite.store import history


@dataclass
class Judging:
    options: Options
    profile: Profile
    _baseline_data: dict | None = None

    @property
    def baseline_file(self) -> Path:
        return bl.baseline_path(self.options.baselines_dir, self.profile.name)

    def baseline_entries(self) -> dict:
        if self._baseline_data is None:
            self._baseline_data = bl.load(self.baseline_file)
        return self._baseline_data["entries"]

    def entry(self, result: CaseResult) -> dict | None:
        return self.baseline_entries().get(bl.entry_key(result))

    def policy(self, task: str) -> vd.Policy:
        return vd.Policy(tolerance=self.profile.tolerance_for(task), tolerance_override=self.options.tolerance,
                         updating=self.options.update_baselines, strict=self.options.strict_baselines)

    def judge(self, result: CaseResult) -> vd.Verdict:
        return vd.judge(result, self.entry(result), self.policy(result.task))

    def gap_failures(self, results: list[CaseResult]) -> list[str]:
        """--max-gap over these results (the controller's view, also under xdist)."""
        return vd.gap_failures(results, self.options.max_gap)

    def throughput_failures(self, results: list[CaseResult]) -> list[str]:
        if self.options.update_baselines:
            return []
        tol = self.options.throughput_tolerance
        if tol is None:
            return []
        out = []
        for r in results:
            if r.ok and vd.throughput_change(r, self.entry(r)) is None:  # compared nothing: never a silent pass
                hw = ((r.provenance or {}).get("hardware") or {}).get("fingerprint", "?")
                out.append(f"{r.key}: --throughput-tolerance cannot judge it: its baseline entry has no throughput "
                           f"figure for this hardware ({hw}); record one here with --update-baselines or drop the "
                           "option")
            elif m := vd.throughput_failure(r, self.entry(r), tol):
                out.append(m)
        return out

    def history_failures(self, results: list[CaseResult]) -> list[str]:
        """--max-drift and --fail-on-change-point against the results history (read only; nothing trains)."""
        path, o = self.options.history_path(), self.options
        if path is None or not (o.max_drift is not None or o.fail_on_change_point):
            return []
        out = []
        for result in (r for r in results if r.ok):
            try:
                if o.max_drift is not None:
                    out.append(history.drift_for(path, result, o.max_drift))
                if o.fail_on_change_point:
                    out.append(history.change_point_for(path, result))
            except SuiteError as exc:  # a history that cannot be read fails the gate, it is never "no history"
                out.append(f"{result.key}: history gate could not read the history: {exc}")
        return [m for m in out if m]

    def table_rows(self, results: list[CaseResult]) -> list[vd.Row]:
        return vd.rows(results, {r.key: self.judge(r) for r in results},
                       {r.key: vd.throughput_change(r, self.entry(r)) for r in results})

    def outcome(self, results: list[CaseResult], *, broken_files: bool = False) -> outcome.Outcome:
        """Whether a run with these results fails, from every gate (suite.gate.outcome decides)."""
        return outcome.run_outcome(self.table_rows(results), strict=self.options.strict_baselines,
                                   gap_failures=self.gap_failures(results),
                                   throughput_failures=self.throughput_failures(results),
                                   history_failures=self.history_failures(results), broken_files=broken_files)
