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
* quality is higher-is-better: ``regression`` needs a mean drop beyond the tolerance and, where there is a
  noise estimate, a one-sided test at ``ALPHA`` that the drop is not seed noise. The best noise estimate wins:
  a calibrated ``noise`` block of >= ``NOISE_BLOCK_MIN_SEEDS`` seeds (known noise: even one seed is tested), else
  the run's own paired seeds when there are >= ``OWN_NOISE_MIN_SEEDS`` (``own_seeds_test``: the tolerance alone
  when their noise is small next to it, else the paired t at ``PAIRED_ALPHA`` or the pooled-sd t at
  ``POOLED_ALPHA``; Welch for an entry without per-seed values), else none: the tolerance alone decides (one
  seed, or two: a paired t with 1 degree of freedom would make two seeds weaker than one), said in the message.
  The baseline is restricted to the seeds that ran (adaptive seeds' early looks stay paired). A standard error
  is never smaller than the metric's resolution (``resolution``: identical per-seed differences are not "no
  noise");
* per-seed guard: with the same seeds on both sides and a noise estimate (the calibrated block, else the
  baseline's own seeds), one seed falling more than tolerance + q x sqrt(2) x sd below its own baseline seed is a
  regression, even when the mean test cannot tell (one collapsed seed out of three); q is set so that all the
  seeds of an unchanged run trip it with probability <= ``GUARD_ALPHA`` together; and when >= ``REPLAY_SEEDS``
  other seeds reproduce their baseline values exactly (a deterministic replay, as on CPU), any seed falling
  beyond the tolerance;
* ``no-baseline`` and ``stale`` compare nothing: never a pass. They are skipped with the reason, and fail under
  strict mode (``--strict-baselines``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import NormalDist

from suite.config.methods import get_method
from suite.engine.results import RELEASE_PACKAGES, CaseResult
from suite.gate.statistics import ALPHA, known_noise_p, t_quantile

NOISE_BLOCK_MIN_SEEDS = 5   # a calibrated noise block of this many seeds is the case's known noise
OWN_NOISE_MIN_SEEDS = 3     # the run's own paired seeds estimate the noise from this many on (2: 1 degree of freedom)
# The per-seed guard: an unchanged run trips it with probability <= GUARD_ALPHA (all its seeds together; the
# threshold grows with the seed count). A collapse that a mean over 2-3 seeds hides (p of the mean test ~0.1) is
# many noise sd below its seed, not seed noise.
GUARD_ALPHA = 0.01
# Deterministic replay (CPU training: the same seed gives the same numbers): when this many other seeds reproduce
# their baseline values exactly, a seed that fell beyond the tolerance fell for a reason. Under run noise two seeds
# coincide exactly with probability well under 1% (continuous metrics: never).
REPLAY_SEEDS = 2
DEFAULT_RESOLUTION = 0.1    # points: a metric's step when its eval rows are not known (one example in 1,000)
# The run's own >= OWN_NOISE_MIN_SEEDS seeds (no calibrated block): ALPHA split between the paired t on the per-seed
# differences and the t on the sd pooled over both sides' seeds (``own_seeds_test``); when the seeds' noise is
# small next to the tolerance, the tolerance alone decides (TOLERANCE_DECIDES).
PAIRED_ALPHA = 0.01
POOLED_ALPHA = ALPHA - PAIRED_ALPHA
TOLERANCE_DECIDES = "tolerance (small seed noise)"
_Z_ALPHA = NormalDist().inv_cdf(1.0 - ALPHA)

MAX_TOLERANCE = 50.0        # points: a tolerance recorded in a file (entry, verdict) beyond this gates nothing
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
    undetectable: str | None = None  # why no detectable drop is given: the calibrated design's false alarms > 5%

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
            why = ("" if self.n < 2 else f" ({self.n} seeds give too few degrees of freedom; a calibrated noise "
                   f"block, python -m suite calibrate --write-baselines, tests them against known noise)")
            sure = (f"n={self.n} vs {self.baseline_n} seeds: no seed-noise estimate{why}, the tolerance alone "
                    f"decides")
        elif self.p_value is None:
            sure = (f"n={self.n} vs {self.baseline_n} seeds: their own noise is small next to the tolerance (at it, "
                    f"the tolerance alone fails <= {ALPHA:.0%} of unchanged runs), so the tolerance decides")
        else:
            sure = f"n={self.n} vs {self.baseline_n} seeds, one-sided {self.test} p={self.p_value:.3g}"
        if self.status == "pass" and self.delta is not None and abs(self.delta) > self.tolerance:
            where = f"beyond the tolerance but inside seed noise (p >= {ALPHA:g})"
        extra = f"; {'; '.join(self.reasons)}" if self.reasons else ""
        power = (f"; this gate detects drops >= {self.detectable:.2f} points here (80% power, calibrated)"
                 if self.detectable is not None else f"; {self.undetectable}" if self.undetectable else "")
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
                "floor": self.floor, "suspects": self.suspects, "detectable": self.detectable,
                "undetectable": self.undetectable, "message": self.message}


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


def _calibrated_block(entry: dict | None, tolerance: float, n: int) -> dict | None:
    """The entry's ``noise`` block when its figures were computed for this design (the same number of seeds, the
    same tolerance, the entry's config); None otherwise."""
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
    return noise


def calibrated_drop(entry: dict | None, tolerance: float, n: int) -> float | None:
    """The calibrated detectable drop for this design, whatever its false-alarm rate (adaptive seeds' protected
    drop); None without a calibration of this design."""
    noise = _calibrated_block(entry, tolerance, n)
    return None if noise is None else float(noise["detectable_drop"])


def calibrated_detectable(entry: dict | None, tolerance: float, n: int) -> float | None:
    """The smallest drop the gate catches with 80% power, from the entry's ``noise`` block (written by
    ``python -m suite calibrate --write-baselines``), when that figure was computed for this design (the same
    number of seeds and the same tolerance) **and** that design's false-alarm rate is <= ``ALPHA``: a drop
    "detected" by a gate that also fails many unchanged runs means nothing. None otherwise."""
    noise = _calibrated_block(entry, tolerance, n)
    if noise is None or not _acceptable(noise):
        return None
    return float(noise["detectable_drop"])


def _acceptable(noise: dict) -> bool:
    fa = noise.get("false_alarm")
    return isinstance(fa, (int, float)) and math.isfinite(fa) and fa <= ALPHA + 1e-12


def undetectable_note(entry: dict | None, tolerance: float, n: int) -> str | None:
    """Where the calibrated design cries wolf more than ``ALPHA`` of the time: say that this gate cannot detect
    at an acceptable false-alarm rate here, and name the design (seeds, tolerance) that can."""
    noise = _calibrated_block(entry, tolerance, n)
    if noise is None or _acceptable(noise):
        return None
    fa = noise.get("false_alarm")
    fa_text = f"{fa:.0%}" if isinstance(fa, (int, float)) else "unknown"
    seeds, tol = noise.get("recommended_seeds"), noise.get("recommended_tolerance")
    design = (f"{seeds} seeds at tolerance {tol:.2f} can (--seeds, tolerance in the baseline entry)"
              if isinstance(seeds, int) and isinstance(tol, (int, float)) else
              "no design up to 10 seeds reaches it; calibrate with more seeds (python -m suite calibrate)")
    return (f"this gate cannot detect a drop at an acceptable false-alarm rate here (calibrated: {fa_text} of "
            f"unchanged runs fail at {n} seed(s), tolerance {tolerance:.2f}; <= {ALPHA:.0%} needed): {design}")


@dataclass(frozen=True)
class Noise:
    """One seed's noise as the gate knows it."""

    sd: float            # one seed's sd (points), never below the metric's resolution
    df: float | None     # degrees of freedom of the estimate
    source: str          # said in the message


def calibrated_noise(entry: dict | None, resolution: float = DEFAULT_RESOLUTION) -> Noise | None:
    """The entry's calibrated noise block (``calibrate --write-baselines``) when it measured >=
    ``NOISE_BLOCK_MIN_SEEDS`` seeds of the entry's config; None otherwise."""
    entry = entry or {}
    noise = entry.get("noise")
    if not isinstance(noise, dict):
        return None
    sd, k = noise.get("sd"), noise.get("n_seeds")
    if not (isinstance(sd, (int, float)) and math.isfinite(sd) and sd >= 0 and isinstance(k, int)
            and k >= NOISE_BLOCK_MIN_SEEDS):
        return None
    if noise.get("config_hash") and entry.get("config_hash") and noise["config_hash"] != entry["config_hash"]:
        return None
    return Noise(max(float(sd), resolution), k - 1, f"calibrated noise sd {float(sd):.2f} from {k} seeds")


def resolution(result: CaseResult) -> float:
    """The metric's step in points: one eval example (100 / eval rows) when the config fixes the eval rows,
    else ``DEFAULT_RESOLUTION``. Standard errors are never taken smaller than this."""
    rows = (result.config or {}).get("eval_size")
    if isinstance(rows, int) and rows > 0:
        return 100.0 / rows
    return DEFAULT_RESOLUTION


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
                base_n: int, direction: str, *, noise: Noise | None = None, resolution: float = DEFAULT_RESOLUTION,
                tolerance: float | None = None) -> tuple[float | None, str | None]:
    """One-sided test that the run's mean is below ("less") or above ("greater") the baseline's, with the best
    noise estimate there is:

    * ``noise`` (a calibrated block): the mean paired difference against that known noise (t with the
      calibration's degrees of freedom); even one seed is tested;
    * else the run's own seeds, when they are among the baseline's and there are >= ``OWN_NOISE_MIN_SEEDS``
      (``own_seeds_test``): (None, ``TOLERANCE_DECIDES``) when their noise is small next to ``tolerance``, else
      the paired and the pooled t together;
    * else Welch's t for an entry without per-seed values (>= ``OWN_NOISE_MIN_SEEDS`` on both sides);
    * else (None, None): no noise estimate.

    A standard error is never below ``resolution`` (identical per-seed differences are not "no noise")."""
    common = [s for s in run_values if s in base_values]
    paired = bool(run_values) and len(common) == len(run_values)
    if noise is not None:
        if paired:
            mean = statistics.fmean(run_values[s] - base_values[s] for s in common)
            se = math.sqrt(2.0) * noise.sd / math.sqrt(len(common))
        else:
            n = len(run_values)
            mean = statistics.fmean(run_values.values()) - base_mean
            se = noise.sd * math.sqrt(1.0 / n + 1.0 / max(base_n, 1))
        return known_noise_p(mean, max(se, resolution), noise.df, direction), "t against calibrated noise"
    if paired and len(common) >= OWN_NOISE_MIN_SEEDS:
        return own_seeds_test([run_values[s] for s in common], [base_values[s] for s in common], direction,
                              resolution=resolution, tolerance=tolerance)
    values = list(run_values.values())
    if paired or len(values) < OWN_NOISE_MIN_SEEDS or base_n < OWN_NOISE_MIN_SEEDS:
        return None, None
    from scipy import stats

    sd = max(statistics.stdev(values), resolution)
    p = stats.ttest_ind_from_stats(statistics.fmean(values), sd, len(values), base_mean, max(base_sd, resolution),
                                   base_n, equal_var=False, alternative=direction).pvalue
    return float(p), "Welch t"


def own_seeds_test(run: list[float], base: list[float], direction: str, *, resolution: float = DEFAULT_RESOLUTION,
                   tolerance: float | None = None) -> tuple[float | None, str]:
    """The change test on >= ``OWN_NOISE_MIN_SEEDS`` paired seeds without a calibrated noise block (``run[i]`` and
    ``base[i]`` the same seed). d = the mean paired difference, s = one seed's sd pooled over the run's and the
    baseline's seeds (2(k - 1) degrees of freedom), se = s x sqrt(2 / k):

    * when tolerance >= z(1 - ALPHA) x se, at the noise the seeds show the tolerance alone would fail at most
      ALPHA of unchanged runs: it decides, as with 1-2 seeds: (None, ``TOLERANCE_DECIDES``);
    * else (p, "paired/pooled t"): p = min(p_paired x ALPHA / PAIRED_ALPHA, p_pooled x ALPHA / POOLED_ALPHA, 1),
      a weighted Bonferroni p, below ALPHA exactly when the paired t on the differences (k - 1 degrees of freedom)
      gives p < ``PAIRED_ALPHA`` or the t on the pooled sd gives p < ``POOLED_ALPHA``.

    The pooled sd ignores the seed effect that both sides share, so it can only overstate the noise of a paired
    difference: whatever that effect, it admits the tolerance alone no more often, and its t cries wolf no more
    often, than with independent seeds, where the rule as a whole fails <= 5% of unchanged runs at every noise
    level (docs/gate-contract.md). The paired t keeps the power that a large shared seed effect gives (a CPU replay,
    every seed shifted alike). Standard errors are never below ``resolution``."""
    from scipy import special

    k = len(run)
    diffs = [x - b for x, b in zip(run, base)]
    mean = statistics.fmean(diffs)
    pooled = math.sqrt((statistics.variance(run) + statistics.variance(base)) / 2.0)
    se_pooled = max(pooled * math.sqrt(2.0 / k), resolution)
    if tolerance is not None and tolerance >= _Z_ALPHA * se_pooled:
        return None, TOLERANCE_DECIDES

    def p_of(se: float, df: int) -> float:
        t = mean / se
        return float(special.stdtr(df, t if direction == "less" else -t))

    p_paired = p_of(max(statistics.stdev(diffs) / math.sqrt(k), resolution), k - 1)
    p_pooled = p_of(se_pooled, 2 * (k - 1))
    return min(1.0, p_paired * ALPHA / PAIRED_ALPHA, p_pooled * ALPHA / POOLED_ALPHA), "paired/pooled t"


def guard_noise(entry: dict, resolution: float = DEFAULT_RESOLUTION) -> Noise | None:
    """The noise the per-seed guard measures a seed's fall in: the calibrated block, else the sd of the
    baseline's own >= 2 seeds (independent of the run, so one collapsed seed cannot hide itself by inflating
    it); None: no guard."""
    cal = calibrated_noise(entry, resolution)
    if cal is not None:
        return cal
    n, sd = int(entry.get("n") or 1), entry.get("sd")
    if n >= 2 and isinstance(sd, (int, float)) and math.isfinite(sd):
        return Noise(max(float(sd), resolution), n - 1, f"sd {float(sd):.2f} of the baseline's {n} seeds")
    return None


def guard_threshold(tolerance: float, n_seeds: int, noise: Noise) -> float:
    """How far one of ``n_seeds`` seeds may fall below its baseline seed: tolerance + q x sqrt(2) x sd, with q the
    1 - GUARD_ALPHA / n_seeds quantile of t on the noise estimate's degrees of freedom (Bonferroni over the
    seeds), so that an unchanged run trips it with probability <= GUARD_ALPHA at any seed count."""
    return tolerance + t_quantile(1.0 - GUARD_ALPHA / max(n_seeds, 1), noise.df) * math.sqrt(2.0) * noise.sd


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
    v.undetectable = undetectable_note(entry, tol, v.n)
    run_seeds, base_seeds = per_seed(result), entry_seeds(entry)
    res = resolution(result)
    if run_seeds and base_seeds and all(s in base_seeds for s in run_seeds):
        if len(run_seeds) < len(base_seeds):  # fewer seeds ran (adaptive seeds' early looks): pair them alone
            v.baseline = statistics.fmean(base_seeds[s] for s in run_seeds)
            v.reasons.append(f"baseline restricted to the {len(run_seeds)} of its {len(base_seeds)} seeds that ran")
        v.baseline_n = len(run_seeds)
    else:
        base_seeds = {}
    delta = v.delta
    v.p_value, v.test = change_test(run_seeds, base_seeds, v.baseline, float(entry.get("sd") or 0.0),
                                    int(entry.get("n") or 1), "less" if delta < 0 else "greater",
                                    noise=calibrated_noise(entry, res), resolution=res, tolerance=tol)
    if abs(delta) > tol and (v.p_value is None or v.p_value < ALPHA):
        v.status = "regression" if delta < 0 else "improved"
    noise = guard_noise(entry, res)
    if noise is not None and base_seeds and v.n >= 2:
        limit = guard_threshold(tol, v.n, noise)
        collapsed = [(s, base_seeds[s] - x) for s, x in run_seeds.items() if base_seeds[s] - x > limit]
        if collapsed:
            v.status = "regression"
            v.reasons.append("per-seed guard: " + ", ".join(f"seed {s} fell {drop:.2f} points" for s, drop in collapsed)
                             + f" (more than {limit:.2f}: tolerance {tol:.2f} + what {noise.source} lets one of "
                               f"{v.n} seeds fall with probability {GUARD_ALPHA:g})")
            return v
    replayed = [s for s, x in run_seeds.items() if base_seeds and x == base_seeds[s]]
    if len(replayed) >= REPLAY_SEEDS:
        fell = [(s, base_seeds[s] - x) for s, x in run_seeds.items() if base_seeds[s] - x > tol + res]
        if fell:
            v.status = "regression"
            v.reasons.append("per-seed guard: " + ", ".join(f"seed {s} fell {drop:.2f} points" for s, drop in fell)
                             + f" while seeds {', '.join(map(str, replayed))} reproduce their baseline values exactly "
                               f"(a deterministic replay: no seed noise, so a fall beyond the tolerance {tol:.2f} "
                               f"is a change)")
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


def gap_within_noise(result: CaseResult, reference: CaseResult, max_gap: float) -> bool:
    """Whether a gap beyond ``max_gap`` is still seed noise, by the quality verdict's own rule for the run's own
    seeds (``own_seeds_test``, the method's and full fine-tuning's values paired by seed, ``max_gap`` as the
    tolerance): with >= ``OWN_NOISE_MIN_SEEDS`` paired seeds the threshold alone decides when their noise is small
    next to it, else the paired/pooled t must find the method behind at all; with fewer, the threshold alone."""
    a, b = per_seed(result), per_seed(reference)
    common = [s for s in sorted(a) if s in b and math.isfinite(a[s]) and math.isfinite(b[s])]
    if len(common) < OWN_NOISE_MIN_SEEDS:
        return False
    p, _ = own_seeds_test([a[s] for s in common], [b[s] for s in common], "less", resolution=resolution(result),
                          tolerance=max_gap)
    return p is not None and p >= ALPHA


def speed_ratio(result: CaseResult, reference: CaseResult | None, attr: str = "train_samples_per_s") -> float | None:
    if reference is None or not result.ok or not reference.ok:
        return None
    base = reference.mean_of(attr)
    return result.mean_of(attr) / base if base > 0 else None


def gap_failures(results: list[CaseResult], max_gap: float | None) -> list[str]:
    """--max-gap: every adapter case must have its full fine-tuning reference in the same results, and trail it
    by at most ``max_gap`` points (with >= 3 paired seeds, a larger gap fails only when it is not seed noise by the
    quality verdict's rule, ``gap_within_noise``). A missing reference fails too: a gap gate that compared nothing
    must not pass."""
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
        elif g.mean < -max_gap and gap_within_noise(r, ref, max_gap):
            continue  # beyond --max-gap but inside seed noise
        elif g.mean < -max_gap:
            how = ("not seed noise by the verdict's rule for the run's own seeds" if g.n >= OWN_NOISE_MIN_SEEDS
                   else f"with {g.n} paired seed{'s' if g.n > 1 else ''} there is no seed-noise estimate: --max-gap "
                        f"alone decides")
            out.append(f"{r.key}: trails full fine-tuning by {-g.mean:.2f} points ({r.primary_metric} "
                       f"{r.metric().mean:.2f} vs {ref.metric().mean:.2f}, same run, paired over seeds "
                       f"{r.config.get('seeds')}), more than --max-gap {max_gap:.2f} ({how})")
    return out


def gap_gate_lines(results: list[CaseResult], max_gap: float | None, failures: list[str]) -> list[str]:
    """What the gap gate concluded, for the end of a summary and the report: every failure, or one line saying it
    ran and passed (a gate that says nothing reads as a gate that did not run). Empty without --max-gap."""
    if max_gap is None:
        return []
    if failures:
        return [f"gap gate FAILED (--max-gap {max_gap:.2f}): {m}" for m in failures]
    judged = sum(1 for r in results if not is_reference(r) and family(r.method) == "adapter" and r.ok)
    return [f"gap gate passed (--max-gap {max_gap:.2f}): {judged} adapter case{'s' if judged != 1 else ''} within "
            "it of full fine-tuning of the same run"]


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
