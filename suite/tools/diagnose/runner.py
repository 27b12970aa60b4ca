"""One diagnosis end to end: pitfall checks, the reference runs, every variant of the grid, judged effects and the
conclusion (``diagnose`` -> ``Diagnosis``); with one seed, what a rerun for verdicts would take."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from suite.config.models import num_layers
from suite.config.profiles import CaseSpec, Profile
from suite.engine.results import CaseResult
from suite.errors import SuiteError
from suite.gate.statistics import ALPHA
from suite.gate.verdicts import resolution
from suite.tools.diagnose.checks import Finding, pitfall_checks
from suite.tools.diagnose.effects import (
    ONE_SEED,
    STATISTICS,
    FactorEffect,
    VariantEffect,
    conclude,
    gap_stat,
    judge_effects,
)
from suite.tools.diagnose.grid import FACTORS, variants


@dataclass
class Diagnosis:
    task: str
    method: str
    profile: str
    seeds: list[int]
    alpha: float
    full_metric: float
    adapter_metric: float
    gap: float                   # mean per-seed case - full (points)
    gap_sd: float | None
    gap_ci: list[float] | None   # paired t interval at 1 - alpha
    gap_verdict: str             # "trails", "ahead", "inside seed noise", "one seed"
    statistics: str              # how effects were judged, in words
    findings: list[Finding]
    effects: list[FactorEffect]
    variants: list[VariantEffect]
    runs: list[dict]             # every variant: factor, label, method, lr, epochs, metric, gap, time_s
    conclusion: str
    rerun: str | None = None     # one seed: the command for verdicts and what it would take
    warning: str | None = None   # one line when full fine-tuning or the case does not beat its task's floor

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def floor_warning(full: CaseResult, base: CaseResult, tolerance: float) -> str | None:
    """One line when full fine-tuning or the case does not beat the trivial score (the gate's degenerate rule):
    then the gap and every effect compare runs that learned nothing."""
    dead = []
    for label, r in (("full fine-tuning", full), (base.method, base)):
        floor, mean = r.floor.get(r.primary_metric), r.metric().mean
        if floor is not None and mean <= floor + tolerance:
            dead.append(f"{label} ({r.primary_metric} {mean:.2f})")
    if not dead:
        return None
    floor = (full.floor or base.floor).get(full.primary_metric)
    model = full.config.get("model")
    hint = ("--model tiny learns nothing; use --model minilm" if model == "tiny"
            else "use a model, budget or learning rate that learns")
    return (f"WARNING: {' and '.join(dead)} {'does' if len(dead) == 1 else 'do'} not beat the trivial score "
            f"{floor:.2f} by more than the tolerance {tolerance:.2f}: the gap and the effects below mean nothing "
            f"({hint}).")


def _run_seconds(result: CaseResult) -> float:
    return sum(r.setup_time_s + r.train_time_s + r.eval_time_s for r in result.runs)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def rerun_hint(results: list[CaseResult], seeds: int = 3) -> str:
    """What ``--seeds 0,1,...`` would take, from the measured times of the one-seed runs of this diagnosis."""
    runs = sum(len(r.runs) for r in results)
    spent = sum(_run_seconds(r) for r in results)
    flag = "--seeds " + ",".join(str(s) for s in range(seeds))
    if spent <= 0:
        return f"Rerun with {flag} for verdicts ({len(results)} cases x {seeds} seeds; run times were not measured)."
    return (f"Rerun with {flag} for verdicts: {len(results)} cases x {seeds} seeds, about {_duration(seeds * spent)} "
            f"({seeds} x the {_duration(spent)} the {runs} runs here took to set up, train and evaluate).")


def diagnose(case: CaseSpec, full_case: CaseSpec, profile: Profile, run: Callable[[CaseSpec], CaseResult], *,
             factors=FACTORS, budget: str | None = None, checks: bool = True, alpha: float = ALPHA) -> Diagnosis:
    if not 0 < alpha < 1:
        raise SuiteError(f"diagnose: alpha must be between 0 and 1, got {alpha}.")
    budget = budget or ("small" if profile.name == "smoke" else "full")
    findings = pitfall_checks(case, full_case) if checks else []
    full, base = run(full_case), run(case)
    for r in (full, base):
        if not r.ok:
            raise SuiteError(f"diagnose: the reference run {r.key} failed ({r.error}); fix that first.")
    res = resolution(base)  # one eval example: the smallest standard error a paired effect is given
    gap = gap_stat(base.paired_diffs(full), alpha, res)
    vs, skipped = variants(case, full_case, num_layers(case.model), factors, budget)
    rows, runs, results = [], [], [full, base]
    for v in vs:
        r = run(v.case)
        results.append(r)
        rows.append((v.factor, v.label, r.paired_diffs(base) if r.ok else []))
        g = r.paired_diffs(full) if r.ok else []
        runs.append({"factor": v.factor, "label": v.label, "method": v.case.method, "lr": v.case.lr,
                     "epochs": v.case.epochs, "metric": r.metric().mean if r.ok else None,
                     "gap": statistics.fmean(g) if g else None, "error": r.error, "config_hash": v.case.config_hash,
                     "time_s": round(_run_seconds(r), 1)})
    per_variant, effects = judge_effects(gap, rows, skipped, factors, alpha, res)
    tested = sum(v.n >= 2 for v in per_variant)
    basis = ONE_SEED if gap.verdict == "one seed" else STATISTICS.format(m=tested, alpha=alpha,
                                                                         level=100 * (1 - alpha))
    rerun = rerun_hint(results) if gap.verdict == "one seed" else None
    return Diagnosis(task=case.task, method=case.method, profile=profile.name, seeds=list(case.seeds), alpha=alpha,
                     full_metric=full.metric().mean, adapter_metric=base.metric().mean, gap=gap.mean,
                     gap_sd=gap.sd, gap_ci=gap.ci, gap_verdict=gap.verdict, statistics=basis, findings=findings,
                     effects=effects, variants=per_variant, runs=runs,
                     conclusion=conclude(gap, effects, case.method, len(gap.diffs), rerun, alpha), rerun=rerun,
                     warning=floor_warning(full, base, profile.tolerance_for(case.task)))
