"""A benchmark session: options -> cases -> results -> verdicts -> files. Used by the pytest plugin and the
``run``, ``calibrate`` and ``diagnose`` commands; everything the plugin's hooks do is here, testable without pytest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from suite.config.methods import get_method, parse_methods
from suite.config.options import Options, parse_tasks
from suite.config.profiles import CaseSpec, get_profile
from suite.engine import progress
from suite.engine import run as engine_run
from suite.engine.results import CaseResult
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import outcome
from suite.gate import verdicts as vd
from suite.gate.adaptive import run_adaptive
from suite.report.summary import render_summary
from suite.session import finish, preflight, selection
from suite.session.judging import Judging
from suite.store import results_files
from suite.tools.diagnose import runner


@dataclass
class BenchSession:
    options: Options
    results: list[CaseResult] = field(default_factory=list)
    _done: dict = field(default_factory=dict)   # config hash -> CaseResult run in this process (reused, not retrained)
    _prepare_s: dict = field(default_factory=dict)  # config hash -> seconds ``prepare`` spent on its data
    interrupted: bool = False                    # set on Ctrl-C or SIGTERM (by the pytest plugin or the run command)
    interrupted_by: str | None = None            # "SIGINT" or "SIGTERM" (suite.signals)

    def __post_init__(self):
        """Every check that can be made before training (suite.session.preflight), in the order a user fixes them."""
        self.profile = get_profile(self.options.profile)
        self.judging = Judging(self.options, self.profile)
        # given but empty ("--methods ''") is a mistake, not "the profile's defaults"
        self.method_list = parse_methods(self.options.methods) if self.options.methods is not None else None
        if self.options.tasks is not None:
            preflight.note_left_out(self.profile, parse_tasks(self.options.tasks))
        glue_dir = preflight.check_glue_dir(self.options)
        preflight.check_state(self.options, self.baseline_file)  # --baselines-dir, the history, empty gates
        self.baseline_entries()  # a broken baseline file stops the run before any training, with what to do
        preflight.check_outputs(self.options, self.baseline_file)  # a bad output path too: no finished run is lost
        # the results file as it was when this run started: a write by another run meanwhile is merged, not lost
        self.results_state = results_files.file_state(self.options.results_json) if self.options.results_json else None
        methods = self.method_list or [get_method(m) for m in self.profile.methods]
        if self.options.max_gap is not None and (problem := outcome.gap_gate_problem(m.name for m in methods)):
            raise SuiteError(problem + ".")
        preflight.check_model_and_methods(self.options, self.profile, methods, glue_dir)
        self.cases()  # no case selected (--shard 9/9): one line, now

    def check_data(self, cases: list[CaseSpec] | None = None) -> None:
        """The local data of ``cases`` (default: all; under pytest the selected ones) read and checked now."""
        preflight.check_data(self.cases() if cases is None else cases)

    @property
    def baseline_file(self) -> Path:
        return self.judging.baseline_file

    def baseline_entries(self) -> dict:
        return self.judging.baseline_entries()

    # --- which cases ------------------------------------------------------------------------------------------

    def cases(self) -> list[CaseSpec]:
        return selection.session_cases(self.options, self.profile, self.method_list)

    def marker_docs(self) -> dict[str, str]:
        return selection.marker_docs(self.method_list)

    def reference_case(self, case: CaseSpec) -> CaseSpec:
        """Full fine-tuning of the same task, model, data and seeds."""
        return selection.reference_case(self.options, self.profile, case)

    # --- running ----------------------------------------------------------------------------------------------

    def prepare(self, case: CaseSpec) -> None:
        """Load, sample and tokenize a case's data now (once per process and task; on disk across runs), so that
        what is timed next is the case's model setup, training and evaluation only."""
        t0 = time.perf_counter()
        engine_run.prepare_case(case)
        self._prepare_s[(case.config_hash, case.glue_dir)] = time.perf_counter() - t0  # ~0 when already prepared

    def run(self, case: CaseSpec, log: Callable[[str], None] | None = None) -> CaseResult:
        """Run a case, or reuse this process's result of a case with the same config hash and data location."""
        key = (case.config_hash, case.glue_dir)
        if key not in self._done:
            log = log or progress.line
            if self.options.adaptive_seeds and not self.options.update_baselines:
                result = self._run_adaptive(case, log)
            else:
                result = _run_case(case, log)
            result.prepare_time_s += self._prepare_s.pop(key, 0.0)  # prepared ahead by ``prepare``: count it
            self._done[key] = result
        return self._done[key]

    def _run_adaptive(self, case: CaseSpec, log) -> CaseResult:
        """Seeds one at a time until the sequential rule stops; the result says how many ran and why."""
        entry = self.baseline_entries().get(bl.key_of(case.task, case.method, case.model))
        run = run_adaptive(case, entry, self.judging.policy(case.task),
                           lambda c, seed: _run_case(dataclasses.replace(c, seeds=(seed,)), log), log=log)
        run.result.provenance = {**(run.result.provenance or {}), "adaptive": run.to_dict()}
        log(run.summary())
        return run.result

    def diagnose(self, case: CaseSpec, factor: str):
        return runner.diagnose(case, self.reference_case(case), self.profile, self.run, factors=[factor],
                               checks=False)

    def add(self, result: CaseResult) -> None:
        self.results.append(result)

    # --- judging (suite.session.judging) -----------------------------------------------------------------------

    def judge(self, result: CaseResult) -> vd.Verdict:
        return self.judging.judge(result)

    def entry(self, result: CaseResult) -> dict | None:
        return self.judging.entry(result)

    def _reference_run(self, case: CaseSpec) -> CaseResult | None:
        """Full fine-tuning of the same run, when it already ran in this process."""
        return self._done.get((self.reference_case(case).config_hash, case.glue_dir))

    def case_fields(self, case: CaseSpec, result: CaseResult, verdict: vd.Verdict) -> dict:
        """verdict, baseline, delta, tolerance and gap of a case as judged now: what the pytest plugin attaches to
        the JUnit properties and pytest-benchmark's extra_info. The gap is known here when full fine-tuning of the
        same task already ran in this process (else None: the summary and the results file have it)."""
        gap = None
        if not vd.is_reference(result):
            ref = self._reference_run(case)
            g = vd.gap(result, ref) if ref is not None and ref.ok and result.ok else None
            gap = None if g is None else round(g.mean, 4)
        return vd.row_fields(verdict, gap)

    def gates(self, case: CaseSpec, result: CaseResult) -> list[str]:
        """Failure messages of the gates beyond the quality verdict that can be judged now, without training
        anything: the adapter gap (when full fine-tuning of the same run already ran in this process; otherwise it
        is judged at the end, where all results are), throughput (when enabled) and the history gates."""
        out = []
        if self.options.max_gap is not None and vd.family(case.method) == "adapter" and result.ok:
            ref = self._reference_run(case)
            if ref is not None:
                out += vd.gap_failures([ref, result], self.options.max_gap)
        return out + self.judging.throughput_failures([result]) + self.judging.history_failures([result])

    def case_failures(self, case: CaseSpec, result: CaseResult, verdict: vd.Verdict) -> list[str]:
        """Why this case fails now: its verdict and its gates, as suite.gate.outcome decides."""
        return outcome.case_failures(verdict, strict=self.options.strict_baselines,
                                     gate_messages=self.gates(case, result))

    def gap_failures(self) -> list[str]:
        return self.judging.gap_failures(self.results)

    def table_rows(self) -> list[vd.Row]:
        return self.judging.table_rows(self.results)

    def outcome(self, *, broken_files: bool = False) -> outcome.Outcome:
        """Whether the session fails, from every gate over every result (suite.gate.outcome decides)."""
        return self.judging.outcome(self.results, broken_files=broken_files)

    # --- the end ----------------------------------------------------------------------------------------------

    def finish(self, *, interrupted: bool = False) -> tuple[list[str], bool]:
        """Write the results file, the report, the baselines (only when asked, not after an interrupt) and the
        history (suite.session.finish). Returns (messages, whether a step failed)."""
        return finish.finish(self, interrupted=interrupted)

    def summary(self, width: int | None = None) -> str:
        """The end-of-run text; ``width``: fit the table to a terminal that wide (None: the full table)."""
        rows = self.table_rows()
        return render_summary(rows, self.profile.name, gap_failures=self.gap_failures(), width=width,
                              strict=self.options.strict_baselines, max_gap=self.options.max_gap) if rows else ""


def _run_case(case: CaseSpec, log: Callable[[str], None]) -> CaseResult:
    return engine_run.run_case(case, log=log, show_progress=True)
