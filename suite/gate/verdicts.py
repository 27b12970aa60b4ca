"""Every judgement the suite makes, in one place: quality against the baseline, floors, the adapter gap gate,
the throughput gate, pairing with the full fine-tuning reference, and which statuses fail.

Pure functions of (results, baseline entries, policy): no files, no pytest, no rendering. The pytest layer, the
``python -m suite`` commands (``run``, ``report``, ``baselines diff``) and the reports all call these.

The rule (docs/verdicts-and-calibration.md):

* a run whose metric is not finite, or that crashed, is ``failed``;
* a run that does not beat its task's trivial score (the best constant prediction on the same dev data, computed
  by the engine) by more than the tolerance is ``degenerate`` and fails, whatever its baseline says;
* a baseline entry is compared only when its config and data match the run (else ``stale``) and it beats the
  floor itself (else it is no baseline: a dead model would pass it); package releases are compared, not
  skipped: a changed release is named as the first suspect of any change;
* quality is higher-is-better: ``regression`` needs a mean drop beyond the tolerance and, when both sides have
  >= 2 seeds, a one-sided test at ``ALPHA`` that the drop is not seed noise: paired t on per-seed differences
  when both sides ran the same seeds, Welch otherwise; with one seed there is no noise estimate and the
  tolerance alone decides (said in the message);
* per-seed guard: with the same seeds on both sides, any one seed falling more than ``SEED_GUARD_K`` x the
  tolerance below its own baseline seed is a regression, even when the mean test cannot tell (one collapsed
  seed out of three);
* ``no-baseline`` and ``stale`` compare nothing: never a pass. They are skipped with the reason, and fail under
  strict mode (``--strict-baselines``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from suite.config.methods import get_method
from suite.engine.results import RELEASE_PACKAGES, CaseResult
from suite.gate.statistics import ALPHA, one_sample_t_p

# A single seed may fall this many tolerances below the same seed of the baseline before the case fails on that
# seed alone. Tolerances are set at about two standard deviations of one seed's noise
# (docs/verdicts-and-calibration.md), so a paired per-seed difference (sd about sqrt(2) x one seed's) beyond 4
# tolerances is more than 5 of its standard deviations: not seed noise, but a collapse that a mean over 2-3 seeds
# can hide (p of the mean test ~0.1).
SEED_GUARD_K = 4.0

FAILING = frozenset({"regression", "failed", "degenerate"})   # always fail the case
UNJUDGED = frozenset({"no-baseline", "stale"})                # compared nothing: skipped, or failed when strict
UNGATED_MODELS = frozenset({"bert-base-random"})             # random weights at a real shape: for speed only
CORRELATION_METRICS = ("matthews", "pearson", "spearman")     # range -100..100; every other metric 0..100


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric (in points) can take: -100..100 for correlations, 0..100 otherwise."""
    return (-100.0, 100.0) if any(c in metric for c in CORRELATION_METRICS) else (0.0, 100.0)


def family(method: str) -> str:
    """The one notion of a method's family: "full" (trains the whole backbone) or "adapter" (anything
    parameter-efficient, head-only included). Used for learning rates, markers and the gap gate alike."""
    return get_method(method).family


def is_reference(result_or_method) -> bool:
    """Full fine-tuning: the reference every other method's gap is measured against."""
    method = getattr(result_or_method, "method", result_or_method)
    return method == "full"


@dataclass
class Verdict:
    key: str
    status: str                  # pass | regression | improved | degenerate | failed | no-baseline | stale | updated
                                 # | not-gated (random-weight speed models)
    metric: str = ""
    measured: float | None = None
    baseline: float | None = None
    tolerance: float | None = None
    reasons: list[str] = field(default_factory=list)   # why: stale/no-baseline/failed/degenerate/per-seed guard
    n: int = 0                   # seeds behind the measured mean
    baseline_n: int = 0          # seeds behind the baseline mean
    p_value: float | None = None  # one-sided test of the change, when both sides have >= 2 seeds
    test: str | None = None      # "paired t" | "Welch t" | None (no noise estimate)
    floor: float | None = None   # the task's trivial score on this dev data
    suspects: list[str] = field(default_factory=list)  # package releases that changed since the baseline
    detectable: float | None = None  # smallest drop this gate catches with 80% power here (entry's noise block)

    @property
    def delta(self) -> float | None:
        if self.measured is None or self.baseline is None:
            return None
        return self.measured - self.baseline

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    @property
    def unjudged(self) -> bool:
        return self.status in UNJUDGED

    def fails(self, strict: bool) -> bool:
        return self.failed or (strict and self.unjudged)

    @property
    def message(self) -> str:
        since = f"; since the baseline: {', '.join(self.suspects)}" if self.suspects else ""
        if self.status == "failed":
            return f"{self.key}: run failed: {'; '.join(self.reasons)}"
        if self.status == "degenerate":
            return f"{self.key}: degenerate: {'; '.join(self.reasons)}"
        if self.status == "not-gated":
            return f"{self.key}: not gated: {'; '.join(self.reasons)}"
        if self.status == "no-baseline":
            what = "; ".join(self.reasons) or "no baseline entry"
            return (f"{self.key}: no usable baseline ({what}); measured {self.metric} = {_f(self.measured)}, nothing "
                    f"compared (record it with --update-baselines)")
        if self.status == "stale":
            return (f"{self.key}: baseline is stale, nothing compared ({'; '.join(self.reasons)}); re-record with "
                    f"--update-baselines")
        if self.status == "updated":
            return f"{self.key}: baseline will be updated to {self.metric} = {_f(self.measured)}{since}"
        where = {"regression": "below baseline - tolerance", "improved": "above baseline + tolerance",
                 "pass": "within baseline ± tolerance"}[self.status]
        if self.test is None:
            sure = f"n={self.n} vs {self.baseline_n} seeds: no seed-noise estimate, the tolerance alone decides"
        else:
            sure = f"n={self.n} vs {self.baseline_n} seeds, one-sided {self.test} p={self.p_value:.3g}"
        if self.status == "pass" and self.delta is not None and abs(self.delta) > self.tolerance:
            where = f"beyond the tolerance but inside seed noise (p >= {ALPHA:g})"
        extra = f"; {'; '.join(self.reasons)}" if self.reasons else ""
        power = (f"; this gate detects drops >= {self.detectable:.2f} points here (80% power, calibrated)"
                 if self.detectable is not None else "")
        return (f"{self.key}: {self.status}: {self.metric} = {self.measured:.2f}, baseline {self.baseline:.2f}, "
                f"delta {self.delta:+.2f}, tolerance {self.tolerance:.2f} ({where}; {sure}){extra}{power}{since}")

    @classmethod
    def from_dict(cls, d: dict) -> Verdict:
        known = {f for f in cls.__dataclass_fields__}
        v = cls(**{k: d[k] for k in known if k in d and k not in ("reasons", "suspects")})
        v.reasons, v.suspects = list(d.get("reasons") or []), list(d.get("suspects") or [])
        return v

    def to_dict(self) -> dict:
        return {"key": self.key, "status": self.status, "metric": self.metric, "measured": self.measured,
                "baseline": self.baseline, "tolerance": self.tolerance, "delta": self.delta, "reasons": self.reasons,
                "n": self.n, "baseline_n": self.baseline_n, "p_value": self.p_value, "test": self.test,
                "floor": self.floor, "suspects": self.suspects, "detectable": self.detectable, "message": self.message}


def _f(x) -> str:
    return "nan" if x is None else f"{x:.2f}"


@dataclass(frozen=True)
class Policy:
    """How to judge: the profile's tolerance for the task (entry and command line may override it)."""

    tolerance: float
    tolerance_override: float | None = None
    updating: bool = False
    strict: bool = False


# --- pieces of the rule ------------------------------------------------------------------------------------

def _release(version: str | None) -> str | None:
    return version.split("+", 1)[0] if version else version


def release_changes(result: CaseResult, entry: dict) -> list[str]:
    """'adapters 1.2.1 -> 1.3.0' for each package release that differs (local tags such as +cpu ignored)."""
    old_v = entry.get("versions") or {}
    new_v = (result.provenance or {}).get("versions", {})
    return [f"{pkg} {old_v[pkg]} -> {new_v[pkg]}" for pkg in RELEASE_PACKAGES
            if old_v.get(pkg) and new_v.get(pkg) and _release(old_v[pkg]) != _release(new_v[pkg])]


def stale_reasons(result: CaseResult, entry: dict) -> list[str]:
    """Why the entry measured something else: its config or its data differ. Releases are not a reason."""
    reasons = []
    if entry.get("metric") not in (None, result.primary_metric):
        reasons.append(f"metric changed ({entry.get('metric')} -> {result.primary_metric})")
    if entry.get("config_hash") and entry["config_hash"] != result.config_hash:
        old = entry.get("config") or {}
        diffs = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in sorted(result.config.items()) if old.get(k) != v]
        diffs += [f"{k}: {old[k]!r} -> (absent)" for k in sorted(set(old) - set(result.config))]
        reasons.append("config changed" + (f" ({', '.join(diffs)})" if diffs and old
                                           else f" (hash {entry['config_hash']} -> {result.config_hash})"))
    if (entry.get("data_fingerprint") and result.data_fingerprint
            and entry["data_fingerprint"] != result.data_fingerprint):
        reasons.append(f"data changed (fingerprint {entry['data_fingerprint']} -> {result.data_fingerprint})")
    return reasons


def non_finite(result: CaseResult) -> list[str]:
    """Seeds whose primary metric is missing or not a finite number."""
    bad = []
    for r in result.runs:
        v = r.metrics.get(result.primary_metric)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            bad.append(f"seed {r.seed}: {result.primary_metric} is {v}")
    return bad


def calibrated_detectable(entry: dict | None, tolerance: float, n: int) -> float | None:
    """The smallest drop the gate catches with 80% power, from the entry's ``noise`` block (written by
    ``python -m suite calibrate --write-baselines``), when that figure was computed for this design: the same
    number of seeds and the same tolerance. None otherwise (no calibration, or it measured another design)."""
    noise = (entry or {}).get("noise")
    if not isinstance(noise, dict):
        return None
    drop, at_n, at_tol = noise.get("detectable_drop"), noise.get("at_seeds"), noise.get("at_tolerance")
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (drop, at_n, at_tol)):
        return None
    if int(at_n) != n or abs(float(at_tol) - tolerance) > 1e-9:
        return None
    if noise.get("config_hash") and entry.get("config_hash") and noise["config_hash"] != entry["config_hash"]:
        return None  # calibrated before the entry was re-recorded under another config
    return float(drop)


def floor_of(result: CaseResult) -> float | None:
    f = (result.floor or {}).get(result.primary_metric)
    return float(f) if isinstance(f, (int, float)) and math.isfinite(f) else None


def tolerance_for(entry: dict | None, policy: Policy) -> float:
    """Command line > baseline entry > profile."""
    if policy.tolerance_override is not None:
        return policy.tolerance_override
    if entry and entry.get("tolerance") is not None:
        return float(entry["tolerance"])
    return policy.tolerance


def change_test(run_values: dict[int, float], base_values: dict[int, float], base_mean: float, base_sd: float,
                base_n: int, direction: str) -> tuple[float | None, str | None]:
    """One-sided test that the run's mean is below ("less") or above ("greater") the baseline's.

    Same seeds on both sides (>= 2): paired t on the per-seed differences. Otherwise, >= 2 seeds on both sides:
    Welch's t. Fewer: (None, None), there is no estimate of seed noise.
    """
    from scipy import stats

    common = sorted(set(run_values) & set(base_values))
    if len(common) >= 2 and len(common) == len(run_values) == len(base_values):
        diffs = [run_values[s] - base_values[s] for s in common]
        if statistics.pstdev(diffs) == 0:  # identical differences: no noise at all, the sign decides
            m = statistics.fmean(diffs)
            return (0.0 if (m < 0 if direction == "less" else m > 0) else 1.0), "paired t"
        return one_sample_t_p(diffs, direction), "paired t"
    values = list(run_values.values())
    if len(values) < 2 or base_n < 2:
        return None, None
    sd = statistics.stdev(values)
    if sd == 0 and base_sd == 0:
        m = statistics.fmean(values) - base_mean
        return (0.0 if (m < 0 if direction == "less" else m > 0) else 1.0), "Welch t"
    p = stats.ttest_ind_from_stats(statistics.fmean(values), sd, len(values), base_mean, base_sd, base_n,
                                   equal_var=False, alternative=direction).pvalue
    return float(p), "Welch t"


def per_seed(result: CaseResult) -> dict[int, float]:
    return {r.seed: float(r.metrics[result.primary_metric]) for r in result.runs
            if r.status == "ok" and result.primary_metric in r.metrics}


def entry_seeds(entry: dict) -> dict[int, float]:
    seeds = (entry.get("provenance") or {}).get("seeds") or []
    values = entry.get("values") or []
    if len(seeds) != len(values):
        return {}
    return {int(s): float(v) for s, v in zip(seeds, values)}


# --- the verdict -------------------------------------------------------------------------------------------

def judge(result: CaseResult, entry: dict | None, policy: Policy) -> Verdict:
    """Judge one case against its baseline entry (None: there is none)."""
    unusable = _unusable(result)
    if unusable is not None:
        return unusable
    metric, stat = result.primary_metric, result.metric()
    tol = tolerance_for(entry, policy)
    floor = floor_of(result)
    v = Verdict(result.key, "pass", metric, stat.mean, tolerance=tol, n=stat.n, floor=floor)
    if floor is None:
        v.status, v.reasons = "failed", ["the run carries no trivial score (floor) to check it against"]
        return v
    if stat.mean <= floor + tol:
        v.status = "degenerate"
        v.reasons = [f"{metric} = {stat.mean:.2f} does not beat the trivial score {floor:.2f} (best constant "
                     f"prediction on the same dev data) by more than the tolerance {tol:.2f}: the model learned "
                     f"(almost) nothing"]
        if result.config.get("model") == "tiny":
            v.reasons.append("--model tiny is a random 4-layer model for testing the suite's wiring; it learns "
                             "nothing, so its cases are always degenerate: measure with --model minilm")
        return v
    if entry is not None:
        v.suspects = release_changes(result, entry)
    if policy.updating:
        v.status = "updated"
        v.baseline = float(entry["mean"]) if entry and isinstance(entry.get("mean"), (int, float)) else None
        return v
    if entry is None:
        v.status, v.reasons = "no-baseline", ["no baseline entry"]
        return v
    return _compare(v, result, entry)


def _unusable(result: CaseResult) -> Verdict | None:
    """The verdict of a run that cannot be compared at all: crashed, non-finite, or a model that is never gated."""
    metric = result.primary_metric
    if not result.ok:
        return Verdict(result.key, "failed", metric, reasons=[result.error or "unknown error"])
    bad = non_finite(result)
    if bad:
        return Verdict(result.key, "failed", metric, reasons=[f"non-finite metric ({'; '.join(bad)})"])
    if result.config.get("model") in UNGATED_MODELS:
        stat = result.metric()
        return Verdict(result.key, "not-gated", metric, stat.mean, n=stat.n, reasons=[
            f"model {result.config.get('model')} has random weights: it measures throughput and MFU at its shape, "
            "its accuracy means nothing and is never gated or recorded"])
    return None


def _compare(v: Verdict, result: CaseResult, entry: dict) -> Verdict:
    """A run that beat its floor against a baseline entry: stale, a dead baseline, or the change test and the
    per-seed guard."""
    metric, floor, tol = v.metric, v.floor, v.tolerance
    v.baseline, v.baseline_n = float(entry["mean"]), int(entry.get("n") or 1)
    reasons = stale_reasons(result, entry)
    if reasons:
        v.status, v.reasons = "stale", reasons
        return v
    if v.baseline <= floor + tol:
        v.status = "no-baseline"
        v.reasons = [f"the baseline entry's {metric} {v.baseline:.2f} does not beat the trivial score {floor:.2f} "
                     f"by more than the tolerance {tol:.2f}, so a dead model would pass it"]
        return v
    v.detectable = calibrated_detectable(entry, tol, v.n)
    run_seeds, base_seeds = per_seed(result), entry_seeds(entry)
    delta = v.delta
    v.p_value, v.test = change_test(run_seeds, base_seeds, v.baseline, float(entry.get("sd") or 0.0), v.baseline_n,
                                    "less" if delta < 0 else "greater")
    if abs(delta) > tol and (v.p_value is None or v.p_value < ALPHA):
        v.status = "regression" if delta < 0 else "improved"
    collapsed = [(s, base_seeds.get(s, v.baseline) - x) for s, x in run_seeds.items()
                 if base_seeds.get(s, v.baseline) - x > SEED_GUARD_K * tol]
    if collapsed and v.n >= 2:
        v.status = "regression"
        v.reasons.append("per-seed guard: " + ", ".join(
            f"seed {s} fell {drop:.2f} points" for s, drop in collapsed)
            + f" (more than {SEED_GUARD_K:g} x tolerance {tol:.2f} = {SEED_GUARD_K * tol:.2f})")
    return v


# --- the gap to full fine-tuning and the speed ratio: one definition -----------------------------------------

@dataclass
class Gap:
    mean: float          # mean over paired seeds of (method - full fine-tuning), primary metric, points
    sd: float            # sd of those per-seed differences (0 with one seed)
    n: int
    diffs: list[float]


def reference_for(result: CaseResult, results: Iterable[CaseResult]) -> CaseResult | None:
    """Full fine-tuning of the same task, model, data and seeds, among ``results``; None when there is none."""
    if is_reference(result):
        return None
    for ref in results:
        if (is_reference(ref) and ref.ok and ref.task == result.task
                and ref.config.get("seeds") == result.config.get("seeds")
                and ref.config.get("model") == result.config.get("model")
                and ref.data_fingerprint == result.data_fingerprint):
            return ref
    return None


def gap(result: CaseResult, reference: CaseResult | None) -> Gap | None:
    """Per-seed paired gap of a method to full fine-tuning of the same run; None without both sides."""
    if reference is None or not result.ok or not reference.ok:
        return None
    diffs = result.paired_diffs(reference)
    diffs = [d for d in diffs if math.isfinite(d)]
    if not diffs:
        return None
    return Gap(statistics.fmean(diffs), statistics.stdev(diffs) if len(diffs) > 1 else 0.0, len(diffs), diffs)


def speed_ratio(result: CaseResult, reference: CaseResult | None, attr: str = "train_samples_per_s") -> float | None:
    if reference is None or not result.ok or not reference.ok:
        return None
    base = reference.mean_of(attr)
    return result.mean_of(attr) / base if base > 0 else None


def gap_failures(results: list[CaseResult], max_gap: float | None) -> list[str]:
    """--max-gap: every adapter case must have its full fine-tuning reference in the same results, and trail it
    by at most ``max_gap`` points. A missing reference fails too: a gap gate that compared nothing must not pass."""
    if max_gap is None:
        return []
    out = []
    for r in results:
        if is_reference(r) or family(r.method) != "adapter" or not r.ok:
            continue
        ref = reference_for(r, results)
        g = gap(r, ref)
        if g is None:
            out.append(f"{r.key}: --max-gap cannot judge it: no successful full fine-tuning of the same task, model, "
                       f"data and seeds in these results (add 'full' to --methods, or merge its shard's results)")
        elif g.mean < -max_gap:
            out.append(f"{r.key}: trails full fine-tuning by {-g.mean:.2f} points ({r.primary_metric} "
                       f"{r.metric().mean:.2f} vs {ref.metric().mean:.2f}, same run, paired over seeds "
                       f"{r.config.get('seeds')}), more than --max-gap {max_gap:.2f}")
    return out


# --- throughput --------------------------------------------------------------------------------------------

def throughput_change(result: CaseResult, entry: dict | None) -> float | None:
    """Relative change (%) of training throughput against the entry's figure for this hardware; None if none.

    On CPU the figure is samples per second of process CPU time when both sides have it (a busy machine moves
    wall-clock samples/s by an order of magnitude, CPU-time samples/s far less); otherwise wall samples/s."""
    hw = (result.provenance or {}).get("hardware") or {}
    ref = ((entry or {}).get("throughput") or {}).get(hw.get("fingerprint")) or {}
    if not result.ok:
        return None
    cpu = [r.train_samples_per_cpu_s for r in result.runs if r.train_samples_per_cpu_s]
    if hw.get("device") == "cpu" and cpu and ref.get("train_samples_per_cpu_s"):
        return 100.0 * (statistics.fmean(cpu) / ref["train_samples_per_cpu_s"] - 1.0)
    base = ref.get("train_samples_per_s")
    if not base:
        return None
    return 100.0 * (result.mean_of("train_samples_per_s") / base - 1.0)


def throughput_failure(result: CaseResult, entry: dict | None, tolerance_pct: float | None) -> str | None:
    if tolerance_pct is None:
        return None
    change = throughput_change(result, entry)
    if change is not None and change < -tolerance_pct:
        return (f"{result.key}: training throughput {change:+.1f}% vs baseline on this hardware, more than "
                f"--throughput-tolerance {tolerance_pct:.1f}%")
    return None


# --- a whole table -----------------------------------------------------------------------------------------

@dataclass
class Row:
    result: CaseResult
    verdict: Verdict
    gap: float | None = None            # method minus full fine-tuning, points, paired seeds; None: no reference
    speed: float | None = None          # train samples/s of the method / full fine-tuning's, same run
    throughput_change: float | None = None  # % vs the baseline's figure on this hardware; None: no such figure
    gap_sd: float | None = None


def rows(results: Iterable[CaseResult], verdicts: dict[str, Verdict],
         throughput_changes: dict[str, float | None] | None = None) -> list[Row]:
    results = list(results)
    tc = throughput_changes or {}
    out = []
    for r in results:
        ref = reference_for(r, results)
        g = gap(r, ref)
        out.append(Row(r, verdicts[r.key], None if g is None else g.mean, speed_ratio(r, ref), tc.get(r.key),
                       None if g is None else g.sd))
    return out


def row_fields(verdict: Verdict, gap: float | None) -> dict:
    """The judged figures of one case, flat (None where there is none)."""
    def r(x):
        return None if x is None else round(x, 4)

    return {"verdict": verdict.status, "baseline": r(verdict.baseline), "delta": r(verdict.delta),
            "tolerance": r(verdict.tolerance), "gap_vs_full": r(gap)}


def counts(table_rows: Iterable[Row]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in table_rows:
        out[row.verdict.status] = out.get(row.verdict.status, 0) + 1
    return dict(sorted(out.items()))
