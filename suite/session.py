"""A benchmark session: options -> cases -> results -> verdicts -> files. Used by the pytest layer and the CLI.

The pytest hooks stay one-liners; everything they do is here so that it can be tested without pytest.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from suite.gate import baselines as bl
from suite.report import table as report
from suite.gate import verdicts as vd
from suite.engine.run import run_case
from suite.errors import SuiteError
from suite.config.methods import parse_methods
from suite.config.options import (DEFAULT_BASELINES, ROOT, Options, parse_lr, parse_max_gap, parse_percent,  # noqa: F401
                      parse_seeds, parse_shard, parse_tasks, parse_tolerance)
from suite.config.profiles import CaseSpec, cases, get_profile
from suite.engine.results import CaseResult


def device_for_worker(worker: str | None, visible: list[str]) -> str | None:
    """CUDA_VISIBLE_DEVICES for a pytest-xdist worker ("gw3"): one GPU each, round robin; None: leave as is."""
    if not worker or not worker.startswith("gw") or len(visible) < 2:
        return None
    return visible[int(worker[2:]) % len(visible)]


def visible_gpus() -> list[str]:
    import os

    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip()]
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


SLOW_SAMPLES = 5000  # a case that trains on more samples (rows x epochs, or all rows) is marked slow


def _marker(name: str) -> str:
    import re

    return re.sub(r"\W", "_", name.split("[", 1)[0]).strip("_") or "method"


def case_marks(case: CaseSpec) -> list[str]:
    """Markers of a case: its task, its method (base name), its family (full/adapter) and "slow" when large."""
    marks = [case.task, _marker(case.method), vd.family(case.method)]
    if case.train_size is None or case.train_size * case.epochs > SLOW_SAMPLES:
        marks.append("slow")
    return list(dict.fromkeys(marks))


@dataclass
class BenchSession:
    options: Options
    results: list[CaseResult] = field(default_factory=list)
    _baseline_data: dict | None = None
    _done: dict = field(default_factory=dict)   # config hash -> CaseResult run in this process (reused, not retrained)
    _prepare_s: dict = field(default_factory=dict)  # config hash -> seconds ``prepare`` spent on its data
    interrupted: bool = False                    # set by the pytest layer on Ctrl-C or SIGTERM
    interrupted_by: str | None = None            # "SIGINT" or "SIGTERM" (suite.signals)

    def __post_init__(self):
        from suite.data.sources import resolve_glue_dir
        from suite.hub import go_offline
        from suite.config.models import is_local

        from suite.config.models import check_methods, check_model

        self.profile = get_profile(self.options.profile)
        # given but empty ("--methods ''") is a mistake, not "the profile's defaults"
        self.method_list = parse_methods(self.options.methods) if self.options.methods is not None else None
        if self.options.tasks is not None:
            parse_tasks(self.options.tasks)
        glue_dir = resolve_glue_dir(self.options.glue_dir)
        if glue_dir is not None and not glue_dir.is_dir():
            raise SuiteError(f"--glue-dir {glue_dir} is not a folder. Point it at the folder that holds SST-2/, MNLI/, "
                             "... (as written by download_glue_data.py), or leave it unset to use the Hub.")
        self.baseline_entries()  # a broken baseline file stops the run before any training, with what to do
        check_outputs(self.options, self.baseline_file)  # a bad output path stops it too: no finished run is lost
        model = self.options.model or self.profile.model
        check_model(model)  # an empty folder or a stray file as --model: one line now, not a traceback later
        from suite.config.methods import get_method

        methods = self.method_list or [get_method(m) for m in self.profile.methods]
        check_methods(model, list({m.name: m for m in methods}.values()))  # every config built once, on the meta device
        from suite.config.speed import check_hardware

        check_hardware(self.options.speed if self.options.speed is not None else self.profile.speed)
        needs_hub = (self.profile.data == "glue" and glue_dir is None) or not is_local(
            self.options.model or self.profile.model)
        if not needs_hub:
            go_offline()  # this run needs no Hub: never touch the network

    @property
    def baseline_file(self) -> Path:
        return bl.baseline_path(self.options.baselines_dir, self.profile.name)

    def cases(self) -> list[CaseSpec]:
        out = cases(self.profile, tasks=parse_tasks(self.options.tasks) if self.options.tasks is not None else None,
                    methods=self.method_list, seeds=self.options.seeds, model=self.options.model,
                    glue_dir=self.options.glue_dir, lr_overrides=self.options.lr, speed=self.options.speed)
        out = list({(c.task, c.method): c for c in out}.values())  # "--methods full,full" / "--tasks sst2,sst2": once
        if self.options.shard:
            i, n = self.options.shard
            total = len(out)
            out = shard(out, i, n)
            if not out:
                raise SuiteError(f"--shard {i}/{n} selects none of the {total} cases; use at most {total} shards "
                                 "(a shard that runs nothing would pass while comparing nothing).")
        return out

    def marker_docs(self) -> dict[str, str]:
        from suite.config.methods import METHODS
        from suite.config.tasks import TASKS

        docs = {t: f"GLUE task {t}" for t in TASKS}
        docs.update({_marker(m): f"method {m}" for m in [*METHODS, *(m.name for m in self.method_list or [])]})
        docs.update(full="full fine-tuning cases", adapter="adapter cases (any adapters config)",
                    slow=f"cases that train on more than {SLOW_SAMPLES} samples")
        return docs

    def baseline_entries(self) -> dict:
        if self._baseline_data is None:
            self._baseline_data = bl.load(self.baseline_file)
        return self._baseline_data["entries"]

    def entry(self, result: CaseResult) -> dict | None:
        return self.baseline_entries().get(bl.entry_key(result))

    def run(self, case: CaseSpec, log: Callable[[str], None] | None = None) -> CaseResult:
        """Run a case, or reuse this process's result of a case with the same config hash and data location."""
        from suite.engine import progress

        key = (case.config_hash, case.glue_dir)
        if key not in self._done:
            log = log or progress.line
            if self.options.adaptive_seeds and not self.options.update_baselines:
                result = self._run_adaptive(case, log)
            else:
                result = run_case(case, log=log, show_progress=True)
            result.prepare_time_s += self._prepare_s.pop(key, 0.0)  # prepared ahead by ``prepare``: count it
            self._done[key] = result
        return self._done[key]

    def _run_adaptive(self, case: CaseSpec, log) -> CaseResult:
        """Seeds one at a time until the sequential rule stops; the result says how many ran and why."""
        import dataclasses

        from suite.gate.adaptive import run_adaptive

        entry = self.baseline_entries().get(bl.key_of(case.task, case.method, case.model))
        run = run_adaptive(case, entry, self.policy(case.task),
                           lambda c, seed: run_case(dataclasses.replace(c, seeds=(seed,)), log=log,
                                                    show_progress=True), log=log)
        run.result.provenance = {**(run.result.provenance or {}), "adaptive": run.to_dict()}
        log(run.summary())
        return run.result

    def prepare(self, case: CaseSpec) -> None:
        """Load, sample and tokenize a case's data now (once per process and task; on disk across runs), so that
        what is timed next is the case's model setup, training and evaluation only."""
        import time

        from suite.engine.run import _prepare

        t0 = time.perf_counter()
        _prepare(case)
        self._prepare_s[(case.config_hash, case.glue_dir)] = time.perf_counter() - t0  # ~0 when already prepared

    def case_fields(self, case: CaseSpec, result: CaseResult, verdict: vd.Verdict) -> dict:
        """verdict, baseline, delta, tolerance and gap of a case as judged now: what the pytest layer attaches to
        the JUnit properties and pytest-benchmark's extra_info. The gap is known here when full fine-tuning of the
        same task already ran in this process (else None: the summary and the results file have it)."""
        gap = None
        if not vd.is_reference(result):
            ref = self._done.get((self.reference_case(case).config_hash, case.glue_dir))
            g = vd.gap(result, ref) if ref is not None and ref.ok and result.ok else None
            gap = None if g is None else round(g.mean, 4)
        return row_fields(verdict, gap)

    def policy(self, task: str) -> vd.Policy:
        return vd.Policy(tolerance=self.profile.tolerance_for(task), tolerance_override=self.options.tolerance,
                         updating=self.options.update_baselines, strict=self.options.strict_baselines)

    def judge(self, result: CaseResult) -> vd.Verdict:
        return vd.judge(result, self.entry(result), self.policy(result.task))

    def reference_case(self, case: CaseSpec) -> CaseSpec:
        """Full fine-tuning of the same task, model, data and seeds."""
        from suite.config.methods import get_method

        return cases(self.profile, tasks=[case.task], methods=[get_method("full")], seeds=case.seeds,
                     model=self.options.model, glue_dir=self.options.glue_dir, lr_overrides=self.options.lr,
                     speed=self.options.speed)[0]

    def diagnose(self, case: CaseSpec, factor: str):
        from suite.tools.diagnose import runner as dg

        return dg.diagnose(case, self.reference_case(case), self.profile, self.run, factors=[factor], checks=False)

    def gates(self, case: CaseSpec, result: CaseResult) -> list[str]:
        """Failure messages of the gates beyond the quality verdict that can be judged now, without training
        anything: the adapter gap (when full fine-tuning of the same run already ran in this process; otherwise
        it is judged at the end, where all results are) and throughput (when enabled)."""
        out = []
        if self.options.max_gap is not None and vd.family(case.method) == "adapter" and result.ok:
            ref = self._done.get((self.reference_case(case).config_hash, case.glue_dir))
            if ref is not None:
                out += vd.gap_failures([ref, result], self.options.max_gap)
        if not self.options.update_baselines:
            msg = vd.throughput_failure(result, self.entry(result), self.options.throughput_tolerance)
            if msg:
                out.append(msg)
        out += self.history_failures(result)
        return out

    def history_failures(self, result: CaseResult) -> list[str]:
        """--max-drift and --fail-on-change-point against the results history (read only; nothing trains)."""
        path = self.options.history_path()
        if path is None or not result.ok or not (self.options.max_drift is not None
                                                 or self.options.fail_on_change_point):
            return []
        from suite.store import history

        out = []
        if self.options.max_drift is not None:
            msg = history.drift_for(path, result, self.options.max_drift)
            if msg:
                out.append(msg)
        if self.options.fail_on_change_point:
            msg = history.change_point_for(path, result)
            if msg:
                out.append(msg)
        return out

    def gap_failures(self) -> list[str]:
        """--max-gap over every result of the session (the controller's view, also under xdist)."""
        return vd.gap_failures(self.results, self.options.max_gap)

    def add(self, result: CaseResult) -> None:
        self.results.append(result)

    def table_rows(self) -> list[vd.Row]:
        return vd.rows(self.results, {r.key: self.judge(r) for r in self.results},
                       {r.key: vd.throughput_change(r, self.entry(r)) for r in self.results})

    def failed(self) -> bool:
        """Whether the session must exit non-zero: any failing verdict, strict unjudged cases, gate failures."""
        rows = self.table_rows()
        extra = self.gap_failures() + [m for r in self.results for m in [
            None if self.options.update_baselines else
            vd.throughput_failure(r, self.entry(r), self.options.throughput_tolerance)] if m]
        extra += [m for r in self.results for m in self.history_failures(r)]
        if self.options.strict_baselines and not self.results:
            return True  # strict: a run that compared nothing is not a pass
        return vd.failing(rows, strict=self.options.strict_baselines, extra_failures=extra)

    def finish(self, *, interrupted: bool = False) -> tuple[list[str], bool]:
        """Write the results file, the report and (only when asked, and not after an interrupt) the baselines.

        Each step is independent: one failing never cancels another. Ctrl-C or SIGTERM arriving meanwhile is held
        until the files are written (a second Ctrl-C must not lose the finished cases; every file is written
        atomically anyway). Returns (messages, whether a step failed)."""
        from suite import signals

        held, caught = signals.deferred()
        try:
            lines, broken = self._finish(interrupted)
        finally:
            signals.restore(held)
        if caught:
            lines.append(f"{caught[0]} received while the files were written: they were finished first")
        return lines, broken

    def _finish(self, interrupted: bool) -> tuple[list[str], bool]:
        lines, broken = [], False
        rows = self.table_rows()

        def step(what: str, fn) -> None:
            nonlocal broken
            try:
                out = fn()
                if out:
                    lines.extend(out)
            except SuiteError as exc:
                broken = True
                lines.append(f"ERROR ({what}): {exc}")
            except OSError as exc:
                broken = True
                lines.append(f"ERROR ({what}): {exc.strerror or exc} ({exc.filename or ''})")

        if self.options.results_json:
            step("results file", lambda: (report.write_results(self.options.results_json, self.profile.name, rows),
                                          [f"results written to {self.options.results_json}"])[1])
        written = bool(self.options.results_json) and not broken
        if self.options.report_dir and rows:
            def write_rep():
                from suite.report.files import write_report

                files = write_report(rows, self.options.report_dir,
                                     title=f"glue-adapter-bench: profile {self.profile.name}")
                return [f"report written to {files[0].parent} ({', '.join(f.name for f in files)})"]
            step("report", write_rep)
        updated: list[str] = []
        if self.options.update_baselines:
            if interrupted:
                pass  # said in the interrupt line below
            elif self.results:
                step("baselines", lambda: self._update_baselines(rows, updated))
        hist = self.options.history_path()
        if hist is not None and self.results and not interrupted:
            def append():
                from suite.store import history

                n = history.append(hist, self.results, baseline_updated=updated)
                return [f"history: {n} record{'s' if n != 1 else ''} appended to {hist}"]
            step("history", append)
        if interrupted:
            lines.insert(0, self.interrupt_line(written))
        return lines, broken

    def interrupt_line(self, written: bool) -> str:
        """One line for a run stopped by Ctrl-C or SIGTERM: what was kept, what was left alone."""
        head = {"SIGTERM": "terminated (SIGTERM)", "SIGINT": "interrupted (SIGINT)",
                "error": "stopped by the error below"}.get(self.interrupted_by or "", "interrupted")
        n = len(self.results)
        kept = f"{n} finished case{'s' if n != 1 else ''} "
        if written:
            kept += f"written to {self.options.results_json}"
        elif self.options.results_json:
            kept += f"NOT written to {self.options.results_json} (see the error below)"
        else:
            kept += "not saved (no --results-json)"
        parts = [kept]
        if self.options.update_baselines:
            parts.append(f"{self.baseline_file} left untouched")
        if self.options.history_path() is not None:
            parts.append("history not appended")
        return f"{head}: " + "; ".join(parts)

    def _update_baselines(self, rows: list[vd.Row], done: list[str]) -> list[str]:
        refuse = {row.result.key: row.verdict.message for row in rows if row.verdict.status != "updated"}
        updated, refused = bl.update(self.baseline_file, self.profile.name, self.results, refuse=refuse)
        done.extend(r.key for r in self.results if bl.entry_key(r) in updated)
        lines = []
        if updated:
            lines.append(f"{self.baseline_file}: updated {len(updated)} entr{'y' if len(updated) == 1 else 'ies'} "
                         f"({', '.join(updated)})")
        lines += [f"{self.baseline_file}: NOT updated for {r}" for r in refused]
        return lines

    def summary(self, width: int | None = None) -> str:
        """The end-of-run text; ``width``: fit the table to a terminal that wide (None: the full table)."""
        rows = self.table_rows()
        if not rows:
            return ""
        return render_summary(rows, self.profile.name, gap_failures=self.gap_failures(),
                              strict=self.options.strict_baselines, width=width)


def row_fields(verdict: vd.Verdict, gap: float | None) -> dict:
    """The judged figures of one case, flat (None where there is none)."""
    def r(x):
        return None if x is None else round(x, 4)

    return {"verdict": verdict.status, "baseline": r(verdict.baseline), "delta": r(verdict.delta),
            "tolerance": r(verdict.tolerance), "gap_vs_full": r(gap)}


def shard(all_cases: list[CaseSpec], i: int, n: int) -> list[CaseSpec]:
    """The i-th of n slices, a task's cases kept together (so its full and adapter cases run on one machine and
    speed_vs_full compares like with like); tasks round robin. With fewer tasks than shards, cases round robin."""
    tasks = list(dict.fromkeys(c.task for c in all_cases))
    if len(tasks) >= n:
        mine = set(tasks[i - 1::n])
        return [c for c in all_cases if c.task in mine]
    return all_cases[i - 1::n]


def _probe_dir(directory: Path, what: str) -> None:
    """Fail now, not after training, if nothing can be created in ``directory`` (or its nearest existing parent)."""
    d = directory
    while not d.exists():
        if d.parent == d:
            break
        d = d.parent
    if not d.is_dir():
        raise SuiteError(f"{what}: {d} is a file, so {directory} cannot be a folder. Choose another path.")
    try:
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as exc:
        raise SuiteError(f"{what}: cannot write in {d} ({exc.strerror}). Choose a writable location.") from None


def _check_file_target(path: str | os.PathLike, what: str) -> None:
    p = Path(path)
    if len(p.name.encode()) > 255:
        raise SuiteError(f"{what}: the file name is longer than 255 bytes. Choose a shorter name.")
    if p.is_dir():
        raise SuiteError(f"{what} {p} is a folder; name a file.")
    if p.exists() and not os.access(p, os.W_OK):
        raise SuiteError(f"{what} {p} is not writable. Choose another path or fix its permissions.")
    _probe_dir(p.parent, what)


def check_outputs(options: Options, baseline_file: Path) -> None:
    """Everything the run will write, checked before the first training step (one line per problem)."""
    if options.results_json:
        _check_file_target(options.results_json, "--results-json")
    if options.report_dir:
        p = Path(options.report_dir)
        if p.exists() and not p.is_dir():
            raise SuiteError(f"--report-dir {p} is a file; name a folder for the report.")
        _probe_dir(p, "--report-dir")
    if options.update_baselines:
        _check_file_target(baseline_file, "--update-baselines")  # the file, its lock and temp file live there
    hist = options.history_path()
    if hist is not None:
        _check_file_target(hist, "--history")
        if hist.is_file() and hist.stat().st_size > 0:  # not a results history: say so now, not after training
            from suite.store.history import _open_for_read

            _open_for_read(hist).close()


def render_summary(rows: list[vd.Row], profile: str, *, gap_failures: list[str] = (), strict: bool = False,
                   width: int | None = None) -> str:
    """The end-of-run text: provenance, the table, verdict counts, then one line per verdict worth reading.
    ``width``: the table is made to fit that many columns (see ``report.to_text``); prose lines are left whole."""
    r0 = rows[0].result
    hw = (r0.provenance or {}).get("hardware", {})
    head = (f"glue-adapter-bench: profile {profile}, model {r0.config.get('model')}, data {r0.data_origin}, "
            f"seeds {r0.config.get('seeds')}, on {hw.get('name', '?')} ({hw.get('device', '?')} x{hw.get('count', '?')})")
    tail = "verdicts: " + ", ".join(f"{n} {s}" for s, n in vd.counts(rows).items())
    if any(row.verdict.unjudged for row in rows):
        tail += (" (no-baseline/stale compared nothing: " + ("they FAIL under --strict-baselines)" if strict
                                                              else "skipped; --strict-baselines fails them)"))
    notes = [row.verdict.message for row in rows
             if row.verdict.status != "pass" or row.verdict.test is not None or row.verdict.suspects]
    notes += [f"gap gate: {m}" for m in gap_failures]
    return "\n".join([head, report.to_text(rows, width), tail, *notes])
