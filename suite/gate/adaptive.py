"""Adaptive seeds: run a case's seeds one at a time and stop as soon as the answer is clear.

The rule (docs/verdicts-and-calibration.md, "Adaptive seeds"), at each look after n seeds (seeds in the case's
order, each paired with the same seed of the baseline):

1. the gate's own verdict on the n seeds so far (``verdicts.judge``, unchanged) decides what it can decide alone:
   a failed or degenerate run stops ("regression"); from 2 seeds on, a verdict of ``regression`` backed by a
   noise test stops (without one, the tolerance alone would stop unchanged code on noise); at the last planned
   seed its verdict is the answer;
2. no usable baseline (none, stale) or ``--update-baselines``: nothing to stop on, every planned seed runs;
3. early pass (futility boundary of a group-sequential design): from ``first_look`` seeds on, when the gate
   passes the n seeds **and** the mean paired change d(n) >= -protect + z * sqrt(2) * sd / sqrt(n), the run stops
   with "pass". ``sd`` is one seed's sd (the entry's calibration, else its own seeds), sqrt(2) * sd the sd of a
   paired difference (independent run noise, as in ``suite.gate.calibration``), ``protect`` the drop the rule must not
   miss (default 2 x the fixed rule's detectable drop at the planned seeds), and z = Phi^-1(1 - miss / K) for K
   early looks: by the union bound a true drop of ``protect`` stops early with "pass" with probability <= miss
   (default 5%), when ``sd`` is right;
4. otherwise: continue.

A stop always agrees with the verdict the gate gives on the seeds that ran (rule 1, and rule 3 requires a pass),
so the session reports ``judge`` on the returned result as usual. The error rates, as simulated
(``python -m suite calibrate --simulate``), are in docs/verdicts-and-calibration.md.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist

from suite.config.paths import DEFAULT_BASELINES
from suite.config.profiles import get_profile
from suite.engine import run as engine_run
from suite.engine.results import CaseResult
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import calibration as cal
from suite.gate import verdicts as vd

PASS, REGRESSION, CONTINUE = "pass", "regression", "continue"


@dataclass(frozen=True)
class AdaptiveRule:
    first_look: int = 1         # seeds before the first early-pass look (the gate never stops "regression" at 1)
    miss: float = 0.05          # P(early "pass" | true drop = protect) <= miss, split over the early looks
    protect_factor: float = 2.0  # protect = this x the fixed rule's detectable drop at the planned seeds
    protect: float | None = None  # points; overrides protect_factor


@dataclass(frozen=True)
class Plan:
    """The rule resolved for one case: how many seeds at most, the noise and the drop it protects against."""

    max_seeds: int
    sd: float | None             # one seed's sd; None: no noise estimate, no early stop
    protect: float | None        # points
    rule: AdaptiveRule = AdaptiveRule()
    sd_source: str = ""

    @property
    def early_looks(self) -> int:
        return max(1, self.max_seeds - self.rule.first_look)

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(1.0 - self.rule.miss / self.early_looks)

    def bound(self, n: int) -> float:
        """Stop with "pass" when the mean paired change after n seeds is at least this."""
        return -self.protect + self.z * math.sqrt(2.0) * self.sd / math.sqrt(n)


@dataclass
class Decision:
    action: str                  # pass | regression | continue
    reason: str
    verdict: vd.Verdict
    n: int


def noise_sd(entry: dict | None) -> tuple[float | None, str]:
    """One seed's sd for the case: the entry's calibration, else the sd of its own seeds (>= 2)."""
    entry = entry or {}
    noise = entry.get("noise") or {}
    sd = noise.get("sd")
    stale = noise.get("config_hash") and entry.get("config_hash") and noise["config_hash"] != entry["config_hash"]
    if isinstance(sd, (int, float)) and math.isfinite(sd) and not stale:
        return float(sd), f"calibration ({noise.get('n_seeds', '?')} seeds)"
    if (entry.get("n") or 1) >= 2 and isinstance(entry.get("sd"), (int, float)):
        return float(entry["sd"]), f"the baseline's own {entry['n']} seeds"
    return None, "none"


def plan_for(entry: dict | None, tolerance: float, max_seeds: int, rule: AdaptiveRule = AdaptiveRule(), *,
             reps: int | None = None) -> Plan:
    """Resolve the rule for a case against its baseline entry and tolerance."""
    if max_seeds < 1:
        raise SuiteError(f"Adaptive seeds need at least 1 planned seed; got {max_seeds}.")
    if not 0 < rule.miss < 1 or rule.first_look < 1:
        raise SuiteError(f"Adaptive seeds: miss must be in (0, 1) and first_look >= 1; got {rule}.")
    sd, source = noise_sd(entry)
    if sd is None or entry is None or not isinstance(entry.get("mean"), (int, float)):
        return Plan(max_seeds, None, None, rule, source)
    protect = rule.protect
    if protect is None:
        detectable = vd.calibrated_drop(entry, tolerance, max_seeds)
        if detectable is None:
            metric = entry.get("metric") or "accuracy"
            floor = entry.get("floor", vd.metric_range(metric)[0])
            detectable = cal.Simulator(float(entry["mean"]), sd, float(floor), metric,
                                       reps=reps or cal.REPS).detectable_drop(max_seeds, tolerance)
        protect = None if detectable is None else rule.protect_factor * detectable
    return Plan(max_seeds, sd, protect, rule, source)


def _paired_changes(result: CaseResult, entry: dict) -> list[float]:
    base = vd.entry_seeds(entry)
    return [x - base.get(s, float(entry["mean"])) for s, x in vd.per_seed(result).items()]


def decide(result: CaseResult, entry: dict | None, policy: vd.Policy, plan: Plan) -> Decision:
    """Stop ("pass" / "regression") or continue, after the seeds in ``result``. Pure."""
    n = len([r for r in result.runs if r.status == "ok"]) if result.ok else len(result.runs)
    v = vd.judge(result, entry, policy)
    if v.status in ("failed", "degenerate"):
        return Decision(REGRESSION, f"stop after {n} seed(s): {v.status}", v, n)
    if v.unjudged or v.status == "updated":
        if n >= plan.max_seeds:
            return Decision(PASS, f"all {n} planned seeds ran "
                            f"({'updating baselines' if v.status == 'updated' else v.status})", v, n)
        return Decision(CONTINUE, f"{'updating baselines' if v.status == 'updated' else 'no usable baseline'}: "
                        f"every planned seed runs", v, n)
    if n >= plan.max_seeds:
        return Decision(REGRESSION if v.failed else PASS, f"all {n} planned seeds ran: the gate's verdict is "
                        f"{v.status}", v, n)
    if n >= 2 and v.failed and v.test is not None:  # without a noise estimate the tolerance alone cries wolf
        return Decision(REGRESSION, f"stop after {n} of {plan.max_seeds} seeds: the gate's rule already fails "
                        f"it ({v.test or 'tolerance'}{'' if v.p_value is None else f' p={v.p_value:.3g}'})", v, n)
    if plan.sd is None or plan.protect is None:
        return Decision(CONTINUE, "the baseline has no noise estimate (one seed, no calibration): no early stop",
                        v, n)
    if n >= plan.rule.first_look and not v.failed:
        change = statistics.fmean(_paired_changes(result, entry))
        bound = plan.bound(n)
        if change >= bound:
            return Decision(PASS, f"stop after {n} of {plan.max_seeds} seeds: mean paired change {change:+.2f} >= "
                            f"{bound:+.2f}, where a true drop of {plan.protect:.2f} points lands with probability "
                            f"< {plan.rule.miss / plan.early_looks:.3g} (seed sd {plan.sd:.2f} from "
                            f"{plan.sd_source})", v, n)
        return Decision(CONTINUE, f"mean paired change {change:+.2f} < {bound:+.2f} after {n} seed(s): not yet "
                        f"clear", v, n)
    return Decision(CONTINUE, f"fewer than {plan.rule.first_look} seeds", v, n)


# --- running a case ------------------------------------------------------------------------------------------

@dataclass
class AdaptiveRun:
    result: CaseResult           # the seeds that ran; config (and hash) of the planned case, as the baseline's
    decision: Decision
    plan: Plan
    looks: list[Decision] = field(default_factory=list)

    @property
    def seeds_run(self) -> int:
        return len(self.result.runs)

    @property
    def verdict(self) -> vd.Verdict:
        return self.decision.verdict

    def summary(self) -> str:
        return (f"{self.result.key}: adaptive seeds: {self.seeds_run} of {self.plan.max_seeds} seeds ran, "
                f"{self.decision.action}: {self.decision.reason}")

    def to_dict(self) -> dict:
        return {"seeds_run": self.seeds_run, "max_seeds": self.plan.max_seeds, "decision": self.decision.action,
                "reason": self.decision.reason, "protect": self.plan.protect, "sd": self.plan.sd,
                "looks": [d.reason for d in self.looks]}


def _engine_seed(case, seed: int) -> CaseResult:
    return engine_run.run_case(dataclasses.replace(case, seeds=(seed,)))


def run_adaptive(case, entry: dict | None, policy: vd.Policy,
                 run_seed_fn: Callable[[object, int], CaseResult] | None = None, max_seeds: int | None = None,
                 rule: AdaptiveRule = AdaptiveRule(), log: Callable[[str], None] | None = None) -> AdaptiveRun:
    """Run ``case``'s seeds (``case.seeds``, in order, at most ``max_seeds``) one at a time until ``decide`` stops.

    ``run_seed_fn(case, seed)`` returns the CaseResult of that one seed (default: ``engine.run_case`` on the case
    restricted to the seed). The returned result holds the seeds that ran under the planned case's config and hash
    (the baseline entry was recorded at the planned seeds), so ``verdicts.judge`` compares it, and its verdict is
    ``decision.verdict``."""
    run_seed_fn = run_seed_fn or _engine_seed
    seeds = list(case.seeds)
    max_seeds = len(seeds) if max_seeds is None else max_seeds
    if not 1 <= max_seeds <= len(seeds):
        raise SuiteError(f"{case.key}: adaptive seeds can run 1 to {len(seeds)} seeds (the case's --seeds); "
                         f"got max_seeds={max_seeds}.")
    plan = plan_for(entry, vd.tolerance_for(entry, policy), max_seeds, rule)
    merged: CaseResult | None = None
    looks = []
    for seed in seeds[:max_seeds]:
        one = run_seed_fn(case, seed)
        if merged is None:
            merged = dataclasses.replace(one, key=case.key, config=case.config(), config_hash=case.config_hash,
                                         runs=list(one.runs))
        else:
            merged.runs.extend(one.runs)
        d = decide(merged, entry, policy, plan)
        looks.append(d)
        if log:
            log(f"{case.key}: adaptive seeds after seed {seed}: {d.action}: {d.reason}")
        if d.action != CONTINUE:
            break
    return AdaptiveRun(merged, looks[-1], plan, looks)


# --- simulation ----------------------------------------------------------------------------------------------

def simulate(mean: float, sd: float, floor: float, tolerance: float, max_seeds: int, drop: float, *,
             rule: AdaptiveRule = AdaptiveRule(), protect: float | None = None, metric: str = "accuracy",
             reps: int | None = None, rng_seed: int | None = None, shared: float = 0.0,
             sd_estimate_seeds: int | None = None, noise_seeds: int | None = None) -> dict:
    """The adaptive rule on ``reps`` simulated comparisons (noise model of ``suite.gate.calibration``; same draws as its
    fixed-rule figures): fraction stopped "regression", mean seed-runs, stops per seed count.

    ``sd_estimate_seeds``: the rule knows the noise only from a calibration of that many seeds (drawn afresh per
    comparison: a chi-distributed estimate) instead of exactly; ``protect`` stays the drop to catch."""
    import numpy as np

    reps = reps or cal.REPS
    rng_seed = cal.RNG_SEED if rng_seed is None else rng_seed
    draws = cal.noise_draws(reps, max_seeds, rng_seed)
    est_rng = np.random.default_rng([rng_seed, max_seeds, 99])
    if protect is None:
        protect = rule.protect if rule.protect is not None else rule.protect_factor * cal.Simulator(
            mean, sd, floor, metric, reps=reps, rng_seed=rng_seed, shared=shared).detectable_drop(max_seeds, tolerance)
    policy = vd.Policy(tolerance=tolerance)
    failed, early_pass, runs, stops = 0, 0, 0, [0] * (max_seeds + 1)
    for i in range(reps):
        base, run = cal.simulated_pair(mean, sd, drop, draws[:, i, :], shared=shared, metric=metric)
        entry = cal.sim_entry(base, floor, metric, noise=None if noise_seeds is None else (sd, noise_seeds))
        sd_known = sd
        if sd_estimate_seeds:
            k = sd_estimate_seeds - 1
            sd_known = sd * math.sqrt(est_rng.chisquare(k) / k)
        plan = Plan(max_seeds, sd_known, protect, rule, "simulation")
        for n in range(1, max_seeds + 1):
            d = decide(cal.sim_result(run[:n], floor, metric), entry, policy, plan)
            if d.action != CONTINUE:
                break
        failed += d.action == REGRESSION
        early_pass += d.action == PASS and d.n < max_seeds
        runs += d.n
        stops[d.n] += 1
    return {"caught": failed / reps, "early_pass": early_pass / reps, "seed_runs": runs / reps,
            "stops": {n: c / reps for n, c in enumerate(stops) if c}, "protect": protect}


@dataclass
class BenchRow:
    label: str
    sd: float
    tolerance: float
    max_seeds: int
    detectable: float
    fixed_false_alarm: float
    adaptive_false_alarm: float
    seed_runs: float             # per case on unchanged code
    fixed_caught_2x: float
    adaptive_caught_2x: float
    adaptive_caught_2x_est: float  # noise known only from a 5-seed calibration
    fixed_caught_1x: float
    adaptive_caught_1x: float

    @property
    def saved(self) -> float:
        return 1.0 - self.seed_runs / self.max_seeds


def benchmark(scenarios: list[tuple[str, float, float, float, float, str]], max_seeds: int = 3,
              reps: int | None = None, rule: AdaptiveRule = AdaptiveRule()) -> list[BenchRow]:
    """Adaptive vs fixed ``max_seeds``-seed rule on each (label, mean, sd, floor, tolerance, metric)."""
    out = []
    for label, mean, sd, floor, tol, metric in scenarios:
        sim = cal.Simulator(mean, sd, floor, metric, reps=reps or cal.REPS)
        det = sim.detectable_drop(max_seeds, tol)
        kw = dict(metric=metric, reps=reps, protect=rule.protect_factor * det, rule=rule)
        same = simulate(mean, sd, floor, tol, max_seeds, 0.0, **kw)
        out.append(BenchRow(
            label, sd, tol, max_seeds, det, sim.false_alarm(max_seeds, tol), same["caught"], same["seed_runs"],
            sim.rate(2 * det, max_seeds, tol), simulate(mean, sd, floor, tol, max_seeds, 2 * det, **kw)["caught"],
            simulate(mean, sd, floor, tol, max_seeds, 2 * det, sd_estimate_seeds=cal.DEFAULT_SEEDS, **kw)["caught"],
            sim.rate(det, max_seeds, tol), simulate(mean, sd, floor, tol, max_seeds, det, **kw)["caught"]))
    return out


def scenarios_for(profile_name: str, baselines_dir=None) -> list[tuple[str, float, float, float, float, str]]:
    """Simulation inputs: every calibrated entry of the profile's baseline file (its measured sd), then assumed
    noise of 1/4, 1/2, 1 and 2 x the profile's tolerance (measured tolerances are 1.4 seed sd on quick full SST-2
    and 0.3 on smoke full fine-tuning: no fixed ratio holds; the figures depend only on that ratio while the floor
    is far)."""
    prof = get_profile(profile_name)
    rows = []
    entries = bl.load(bl.baseline_path(baselines_dir or DEFAULT_BASELINES, prof.name))["entries"]
    for key, e in sorted(entries.items()):
        sd, source = noise_sd(e)
        if sd and (e.get("noise") or {}).get("sd") is not None:
            task = key.split("/", 1)[0]
            tol = vd.tolerance_for(e, vd.Policy(tolerance=prof.tolerance_for(task)))
            rows.append((f"{key} (measured sd)", float(e["mean"]), sd, float(e.get("floor", 0.0)), tol, e["metric"]))
    tol = prof.tolerance
    for ratio in (0.25, 0.5, 1.0, 2.0):
        rows.append((f"assumed sd = {ratio:g} x tolerance {tol:g}", 80.0, ratio * tol, 50.0, tol, "accuracy"))
    return rows


def benchmark_text(profile_name: str, max_seeds: int = 3, baselines_dir=None, reps: int | None = None) -> str:
    rows = benchmark(scenarios_for(profile_name, baselines_dir), max_seeds, reps)
    lines = [f"adaptive seeds vs the fixed {max_seeds}-seed rule, profile {profile_name} tolerances, simulated "
             f"({reps or cal.REPS} comparisons per figure, RNG seed {cal.RNG_SEED}; paired seeds, independent run "
             f"noise; every verdict by verdicts.judge)",
             "| noise | detectable drop (fixed, 80%) | seed-runs per case, no change | saved | false alarm fixed / "
             "adaptive | caught at 2x detectable fixed / adaptive / adaptive, sd from 5 seeds | caught at 1x "
             "detectable fixed / adaptive |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.label} | {r.detectable:.2f} | {r.seed_runs:.2f} of {r.max_seeds} | {r.saved:.0%} "
                     f"| {r.fixed_false_alarm:.1%} / {r.adaptive_false_alarm:.1%} | {r.fixed_caught_2x:.1%} / "
                     f"{r.adaptive_caught_2x:.1%} / {r.adaptive_caught_2x_est:.1%} | {r.fixed_caught_1x:.1%} / "
                     f"{r.adaptive_caught_1x:.1%} |")
    lines.append(_overall(rows, "overall"))
    if max_seeds > 2:
        two = benchmark(scenarios_for(profile_name, baselines_dir), max_seeds, reps, AdaptiveRule(first_look=2))
        lines.append(_overall(two, "first look at 2 seeds instead of 1"))
    return "\n".join(lines)


def _overall(rows: list[BenchRow], label: str) -> str:
    saved = 1.0 - sum(r.seed_runs for r in rows) / sum(r.max_seeds for r in rows)
    return (f"{label}: {saved:.0%} fewer seed-runs on unchanged code; drops of 2 x detectable caught "
            f"{min(r.adaptive_caught_2x for r in rows):.1%} of the time at worst "
            f"({min(r.adaptive_caught_2x_est for r in rows):.1%} with the noise from a 5-seed calibration); "
            f"false alarms {max(r.adaptive_false_alarm for r in rows):.1%} at worst (fixed rule "
            f"{max(r.fixed_false_alarm for r in rows):.1%})")
