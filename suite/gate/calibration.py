"""Measured gate power: how large a drop the gate catches, how often it cries wolf, how many seeds a case needs.

``python -m suite calibrate`` runs each case over N seeds (default 5), measures the seed-to-seed sd of its primary
metric, and feeds that noise into a Monte Carlo simulation of the gate's own rule: every simulated comparison is
judged by ``suite.gate.verdicts.judge`` itself (floors, tolerance, paired t / Welch, per-seed guard), so the figures
stay true when the rule changes. Per case it reports

* ``detectable_drop``: the smallest true drop (points) that the gate fails with >= 80% probability, at the
  profile's seed count and the case's tolerance;
* ``false_alarm``: how often the gate fails the case when nothing changed;
* ``recommended_seeds`` / ``recommended_tolerance``: the fewest seeds, and the largest tolerance at that count,
  with which the gate catches a drop of ``--detect`` points with >= 80% power at a false-alarm rate <= 5%.

Noise model (docs/verdicts-and-calibration.md, "Calibration and adaptive seeds"): per-seed value = case mean + seed
effect + run noise, both normal, total sd = the measured seed sd. Baseline and run share the seeds (the paired
design of the gate) and share the seed effect; the run noise is drawn afresh on each side. ``shared`` is the
fraction of the variance that is seed effect. The default, 0, treats all of it as run noise: what a change to the
code (any change reshuffles the random stream) or a non-deterministic GPU kernel does. It is the conservative
choice: with a shared seed effect the paired differences are quieter and the gate is stronger than reported. Values
are clipped to the metric's range. Every simulation draws from a fixed RNG seed (``RNG_SEED``), so the figures are
reproducible, and the same draws serve every drop size (common random numbers), so the search for the detectable
drop is monotone.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import statistics
from dataclasses import dataclass, field

from suite.config.profiles import CaseSpec
from suite.config.tasks import get_task
from suite.engine.results import CaseResult, RunResult
from suite.errors import SuiteError, printable
from suite.gate import baselines as bl
from suite.gate import verdicts as vd

POWER = 0.80            # "detectable": caught at least this often
FALSE_ALARM_TARGET = vd.ALPHA   # a recommended design cries wolf at most this often
RNG_SEED = 17           # every simulation draws from this seed: reproducible figures
REPS = 2000             # Monte Carlo comparisons per figure (sd of a rate near 0.8: 0.9 percentage points)
DEFAULT_SEEDS = 5       # seeds a calibration runs per case
MAX_RECOMMENDED_SEEDS = 10
MAX_GATE_SEEDS = 50     # seeds of a simulated design (and of a calibration): 50 simulate in ~11 s per case, 10**6
                        # would allocate 45 GiB of draws
RESOLUTION = 0.01       # points: drops and tolerances are searched to this precision
SIM_KEY = "sim/case"


# --- the rule on simulated values -------------------------------------------------------------------------

def noise_draws(reps: int, n_seeds: int, rng_seed: int):
    import numpy as np

    rng = np.random.default_rng([rng_seed, n_seeds])
    return rng.standard_normal((3, reps, n_seeds))   # seed effect, baseline run noise, new run noise


def simulated_pair(mean: float, sd: float, drop: float, draws_row, *, shared: float = 0.0,
                   metric: str = "accuracy") -> tuple[list[float], list[float]]:
    """(baseline values, run values) per seed for one simulated comparison: the run's true mean is ``drop`` lower."""
    a, eb, er = draws_row
    lo, hi = vd.metric_range(metric)
    s_shared, s_run = sd * math.sqrt(shared), sd * math.sqrt(1.0 - shared)
    base = [min(hi, max(lo, mean + s_shared * x + s_run * y)) for x, y in zip(a, eb)]
    run = [min(hi, max(lo, mean - drop + s_shared * x + s_run * y)) for x, y in zip(a, er)]
    return base, run


def sim_result(values: list[float], floor: float, metric: str = "accuracy", seeds=None) -> CaseResult:
    seeds = list(seeds if seeds is not None else range(len(values)))
    runs = [RunResult(task="sim", method="sim", seed=s, metrics={metric: float(v)}) for s, v in zip(seeds, values)]
    return CaseResult(key=SIM_KEY, task="sim", method="sim", profile="sim", primary_metric=metric, config={},
                      config_hash="", runs=runs, floor={metric: floor})


def sim_entry(values: list[float], floor: float, metric: str = "accuracy", seeds=None, *,
              noise: tuple[float, int] | None = None) -> dict:
    """A baseline entry as the suite records it: mean, sd, n, per-seed values and their seeds, floor; with
    ``noise`` = (sd, calibration seeds), the noise block ``calibrate --write-baselines`` adds."""
    seeds = list(seeds if seeds is not None else range(len(values)))
    e = {"metric": metric, "mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1
         else 0.0, "n": len(values), "values": list(values), "provenance": {"seeds": seeds}, "floor": floor}
    if noise is not None:
        e["noise"] = {"sd": float(noise[0]), "n_seeds": int(noise[1])}
    return e


def gate_rates(mean: float, sd: float, floor: float, tolerance: float, n_seeds: int, drop: float, *,
               metric: str = "accuracy", reps: int = REPS, rng_seed: int = RNG_SEED, shared: float = 0.0,
               noise_seeds: int | None = None, _draws_cache: dict | None = None) -> dict[str, float]:
    """Fractions of ``reps`` simulated comparisons (baseline and run on the same ``n_seeds`` seeds, the run's true
    mean ``drop`` points lower) that ``verdicts.judge`` fails ("fail": regression or degenerate), calls
    "regression", or leaves unjudged (the simulated baseline itself too close to the floor). ``noise_seeds``:
    the baseline entry carries a calibrated noise block of ``sd`` measured on that many seeds (the gate then
    tests against known noise); None: no block, the gate uses the run's own seeds."""
    key = (reps, n_seeds, rng_seed)
    draws = (_draws_cache or {}).get(key)
    if draws is None:
        draws = noise_draws(reps, n_seeds, rng_seed)
        if _draws_cache is not None:
            _draws_cache[key] = draws
    policy = vd.Policy(tolerance=tolerance)
    counts = {"fail": 0, "regression": 0, "unjudged": 0}
    for i in range(reps):
        base, run = simulated_pair(mean, sd, drop, draws[:, i, :], shared=shared, metric=metric)
        noise = None if noise_seeds is None else (sd, noise_seeds)
        v = vd.judge(sim_result(run, floor, metric), sim_entry(base, floor, metric, noise=noise), policy)
        counts["fail"] += v.failed
        counts["regression"] += v.status == "regression"
        counts["unjudged"] += v.unjudged
    return {k: c / reps for k, c in counts.items()}


@dataclass
class Simulator:
    """The gate's rule on one case's noise: power and false alarms as functions of drop, seeds and tolerance."""

    mean: float
    sd: float
    floor: float
    metric: str = "accuracy"
    reps: int = REPS
    rng_seed: int = RNG_SEED
    shared: float = 0.0
    noise_seeds: int | None = None   # the entry carries a calibrated noise block of this many seeds
    _cache: dict = field(default_factory=dict, repr=False)

    def rate(self, drop: float, n_seeds: int, tolerance: float) -> float:
        return gate_rates(self.mean, self.sd, self.floor, tolerance, n_seeds, drop, metric=self.metric,
                          reps=self.reps, rng_seed=self.rng_seed, shared=self.shared, noise_seeds=self.noise_seeds,
                          _draws_cache=self._cache)["fail"]

    def false_alarm(self, n_seeds: int, tolerance: float) -> float:
        return self.rate(0.0, n_seeds, tolerance)

    def detectable_drop(self, n_seeds: int, tolerance: float, power: float = POWER) -> float | None:
        """Smallest drop (points, to RESOLUTION) failed with probability >= ``power``; None: not even a drop to
        the bottom of the metric's range is (cannot happen while the floor rule holds)."""
        if self.rate(0.0, n_seeds, tolerance) >= power:
            return 0.0
        lo, hi = 0.0, tolerance + 3.0 * math.sqrt(2.0) * self.sd + RESOLUTION
        span = vd.metric_range(self.metric)[1] - vd.metric_range(self.metric)[0]
        while self.rate(hi, n_seeds, tolerance) < power:
            lo, hi = hi, 2.0 * hi
            if lo > span:
                return None
        _, hi = _bisect(lambda drop: self.rate(drop, n_seeds, tolerance) >= power, lo, hi)
        return round(math.ceil(hi / RESOLUTION - 1e-9) * RESOLUTION, 2)

    def recommend(self, detect: float, max_seeds: int = MAX_RECOMMENDED_SEEDS, power: float = POWER,
                  false_alarm: float = FALSE_ALARM_TARGET) -> tuple[int | None, float | None]:
        """The fewest seeds, and the largest tolerance at that count, with which a drop of ``detect`` points is
        caught with probability >= ``power`` while no change fails at most ``false_alarm`` of the time.
        (None, None) when no design up to ``max_seeds`` seeds does it. Power at a fixed drop falls as the
        tolerance grows, and so do false alarms: the largest tolerance that keeps the power is the best."""
        for n in range(1, max_seeds + 1):
            if self.rate(detect, n, 0.0) < power:
                continue
            lo, hi = 0.0, detect
            if self.rate(detect, n, hi) >= power:
                lo = hi
            lo, _ = _bisect(lambda t, n=n: self.rate(detect, n, t) < power, lo, hi)
            tol = math.floor(lo / RESOLUTION + 1e-9) * RESOLUTION
            if self.false_alarm(n, tol) <= false_alarm:
                return n, round(tol, 2)
        return None, None


# --- a case of a calibration file (``calibrate --out``), read back by ``calibrate --from-json`` ------------

_NUMBER = {"type": "number"}   # JSON Schema: true/false are not numbers (Python's bool is an int)
CASE_SCHEMA = {
    "type": "object",
    "required": ["key", "metric", "values", "floor", "tolerance", "at_seeds", "sd", "false_alarm"],
    "properties": {
        "key": {"type": "string", "pattern": r"^[^/@]+/[^@]+@.+$"},
        "metric": {"type": "string", "minLength": 1},
        "values": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": MAX_GATE_SEEDS},
        "seeds": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 0}, "uniqueItems": True},
        "floor": _NUMBER,
        "tolerance": {"type": "number", "minimum": 0, "maximum": vd.MAX_TOLERANCE},
        "at_seeds": {"type": "integer", "minimum": 1, "maximum": MAX_GATE_SEEDS},
        "detect_target": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "sd": {"type": "number", "minimum": 0},
        "false_alarm": {"type": "number", "minimum": 0, "maximum": 1},
        "config_hash": {"type": ["string", "null"]},
        "measured": {"type": ["string", "null"]},
        "entry_matches": {"type": "boolean"},
        "data_fingerprint": {"type": ["string", "null"]},
    },
}


def case_problem(case) -> str | None:
    """The first reason a case read from a calibration file cannot be recomputed, in words (None: it can): the
    schema (types, bounds: a boolean is no number, at_seeds at most ``MAX_GATE_SEEDS``), then what it cannot say:
    the key names a known task whose gated metric is ``metric``, values and floor inside the metric's range, one
    seed per value, a target drop inside the range."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(CASE_SCHEMA).iter_errors(case))
    if error is not None:
        return f"{bl.where(error.absolute_path)}: {bl.one_line(error.message)}"
    if not case["key"].isprintable():
        return f"key {printable(case['key'])} holds control characters"
    try:
        task = get_task(case["key"].split("/", 1)[0])
    except SuiteError as exc:
        return str(exc)
    if case["metric"] != task.primary_key:
        return f"metric {printable(case['metric'])} is not the one {task.name} is gated on ({task.primary_key})"
    lo, hi = vd.metric_range(case["metric"])
    for name, value in [("floor", case["floor"]), *((f"values/{i}", v) for i, v in enumerate(case["values"]))]:
        if not lo <= value <= hi:
            return f"{name}: {value} is outside {lo:g}..{hi:g} ({case['metric']})"
    if case.get("seeds") is not None and len(case["seeds"]) != len(case["values"]):
        return f"{len(case['seeds'])} seeds for {len(case['values'])} values"
    if case.get("detect_target") is not None and case["detect_target"] > hi - lo:
        return f"detect_target: {case['detect_target']} is beyond the metric's range ({lo:g}..{hi:g})"
    return None


# --- one measured case ---------------------------------------------------------------------------------------

@dataclass
class Calibration:
    key: str                     # baseline entry key, task/method@model
    metric: str
    values: list[float]          # primary metric per calibration seed
    seeds: list[int]
    floor: float | None
    tolerance: float             # the tolerance the gate applies to this case (entry > profile)
    at_seeds: int                # the profile's seed count: the design the figures describe
    detect_target: float
    sd: float = 0.0
    detectable_drop: float | None = None
    false_alarm: float | None = None
    recommended_seeds: int | None = None
    recommended_tolerance: float | None = None
    config_hash: str = ""        # of the case at the profile's seeds: the baseline entry it describes
    measured: str = ""
    notes: list[str] = field(default_factory=list)
    error: str | None = None     # the calibration run failed: nothing measured
    entry_matches: bool = False  # a baseline entry of the same config and data exists: the figures may go there
    data_fingerprint: str | None = None  # of the data the calibration seeds ran on

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    def noise_block(self) -> dict:
        return {"sd": round(self.sd, 4), "n_seeds": len(self.values), "values": [round(v, 4) for v in self.values],
                "detectable_drop": self.detectable_drop, "false_alarm": round(self.false_alarm, 4), "power": POWER,
                "at_seeds": self.at_seeds, "at_tolerance": self.tolerance, "detect_target": self.detect_target,
                "recommended_seeds": self.recommended_seeds, "recommended_tolerance": self.recommended_tolerance,
                "measured": self.measured, "config_hash": self.config_hash,
                "model": "simulated verdicts.judge, paired seeds, independent run noise of the measured sd",
                "reps": REPS, "rng_seed": RNG_SEED}

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "mean": self.mean}


def calibrate_values(key: str, metric: str, values: list[float], floor: float, tolerance: float, at_seeds: int,
                     detect: float, *, reps: int = REPS, shared: float = 0.0, seeds=None) -> Calibration:
    """The figures for one case from its measured per-seed values (>= 2)."""
    if len(values) < 2:
        raise SuiteError(f"{key}: calibration needs at least 2 seeds to estimate noise; got {len(values)}.")
    if not 1 <= at_seeds <= MAX_GATE_SEEDS:
        raise SuiteError(f"{key}: the gate's design has 1 to {MAX_GATE_SEEDS} seeds; got {at_seeds}.")
    c = Calibration(key, metric, [float(v) for v in values], list(seeds or range(len(values))), floor, tolerance,
                    at_seeds, detect, sd=statistics.stdev(values),
                    measured=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    # the figures describe the gate as it will judge with this calibration written into the entry: against known
    # noise when it has enough seeds for a noise block
    block = len(values) if len(values) >= vd.NOISE_BLOCK_MIN_SEEDS else None
    sim = Simulator(c.mean, c.sd, floor, metric, reps=reps, shared=shared, noise_seeds=block)
    c.detectable_drop = sim.detectable_drop(at_seeds, tolerance)
    c.false_alarm = sim.false_alarm(at_seeds, tolerance)
    c.recommended_seeds, c.recommended_tolerance = sim.recommend(detect)
    if c.mean <= floor + tolerance:
        c.notes.append(f"mean {c.mean:.2f} does not beat the floor {floor:.2f} by more than the tolerance: the case "
                       f"is degenerate, its figures describe a dead model")
    if c.recommended_seeds is None:
        c.notes.append(f"no design with <= {MAX_RECOMMENDED_SEEDS} seeds catches a {detect:.2f}-point drop with "
                       f"{POWER:.0%} power at <= {FALSE_ALARM_TARGET:.0%} false alarms")
    return c


def recompute_block(key: str, entry: dict, tolerance: float, at_seeds: int, detect: float | None = None, *,
                    reps: int | None = None) -> Calibration:
    """The figures of an entry's stored ``noise`` block recomputed from the per-seed values it stores, under the
    gate's current rule, for the design the gate now judges (``at_seeds`` seeds, ``tolerance``): no training, the
    measured values untouched (``calibrate --recompute``). The block's measurement date and config hash stay; the
    figures' own date goes to ``recomputed``."""
    noise = entry.get("noise") if isinstance(entry.get("noise"), dict) else {}
    values, floor = noise.get("values"), entry.get("floor")
    if not (isinstance(values, list) and len(values) >= 2 and all(isinstance(v, (int, float)) for v in values)):
        raise SuiteError(f"{key}: its noise block stores no per-seed values (>= 2) to recompute from; run "
                         f"python -m suite calibrate --write-baselines for it.")
    if not isinstance(floor, (int, float)):
        raise SuiteError(f"{key}: its entry has no floor; re-record it with --update-baselines.")
    target = detect or noise.get("detect_target") or 2.0 * tolerance
    c = calibrate_values(key, entry.get("metric") or "accuracy", values, float(floor), tolerance, at_seeds,
                         float(target), reps=reps or REPS)
    c.measured, c.config_hash = noise.get("measured") or "", noise.get("config_hash") or entry.get("config_hash", "")
    c.entry_matches = True
    return c


def calibrate_result(result: CaseResult, entry: dict | None, profile, detect: float | None, *,
                     reps: int = REPS, shared: float = 0.0) -> Calibration:
    """Figures for one measured case (a CaseResult over the calibration seeds) and its baseline entry."""
    tol = vd.tolerance_for(entry, vd.Policy(tolerance=profile.tolerance_for(result.task)))
    detect = 2.0 * tol if detect is None else detect
    at_seeds = len(profile.seeds)
    fields = {f.name for f in dataclasses.fields(CaseSpec)}
    spec = CaseSpec(**{k: (tuple(v) if k == "seeds" else v) for k, v in result.config.items() if k in fields})
    gate_hash = dataclasses.replace(spec, seeds=tuple(profile.seeds)).config_hash
    key = bl.entry_key(result)
    stat = result.metric()
    seeds = [r.seed for r in result.runs if r.status == "ok"]
    if not result.ok or vd.non_finite(result):
        return Calibration(key, result.primary_metric, [], seeds, vd.floor_of(result), tol, at_seeds, detect,
                           error=result.error or "; ".join(vd.non_finite(result)))
    floor = vd.floor_of(result)
    if floor is None:
        return Calibration(key, result.primary_metric, stat.values, seeds, None, tol, at_seeds, detect,
                           error="the run carries no trivial score (floor)")
    c = calibrate_values(key, result.primary_metric, stat.values, floor, tol, at_seeds, detect, reps=reps,
                         shared=shared, seeds=seeds)
    c.config_hash, c.data_fingerprint = gate_hash, result.data_fingerprint
    c.entry_matches = entry is not None
    if entry is not None:
        if entry.get("config_hash") and entry["config_hash"] != gate_hash:
            c.notes.append(f"the baseline entry was recorded under another config (hash {entry['config_hash']}, "
                           f"this case at the profile's seeds: {gate_hash}): its figures are not written there")
            c.entry_matches = False
        elif entry.get("data_fingerprint") and result.data_fingerprint and \
                entry["data_fingerprint"] != result.data_fingerprint:
            c.notes.append("the baseline entry was recorded on other data: its figures are not written there")
            c.entry_matches = False
    return c


# --- rendering ------------------------------------------------------------------------------------------------

def _n(x, fmt="{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def render(profile: str, cals: list[Calibration], n_seeds: int) -> str:
    lines = [f"calibration, profile {profile}: {n_seeds} seeds per case; power and false alarms of the gate's rule "
             f"(verdicts.judge) simulated {REPS} times per figure on the measured seed sd (RNG seed {RNG_SEED}, "
             f"paired seeds, independent run noise)",
             "| case | metric | mean | seed sd | floor | tolerance | gate seeds | detectable drop (80%) | false alarm "
             "| target drop | recommended seeds | recommended tolerance |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for c in cals:
        if c.error:
            notes.append(f"{c.key}: calibration run failed, nothing measured ({c.error})")
            continue
        # a drop "detected" by a design that also fails many unchanged runs means nothing (issue 22, item 8); nor
        # does one whose false-alarm rate is unknown (None, NaN): the drop is printed only where the rate vouches
        known = isinstance(c.false_alarm, (int, float)) and math.isfinite(c.false_alarm)
        cries_wolf = known and c.false_alarm > FALSE_ALARM_TARGET
        lines.append(f"| {c.key} | {c.metric} | {c.mean:.2f} | {c.sd:.2f} | {_n(c.floor)} | {c.tolerance:.2f} "
                     f"| {c.at_seeds} | {_n(c.detectable_drop) if known and not cries_wolf else '-'} "
                     f"| {_n(c.false_alarm if known else None, '{:.1%}')} "
                     f"| {c.detect_target:.2f} | {_n(c.recommended_seeds, '{}')} "
                     f"| {_n(c.recommended_tolerance)} |")
        if cries_wolf:
            notes.append(f"{c.key}: no detectable drop: at {c.at_seeds} seed(s) and tolerance {c.tolerance:.2f} the "
                         f"gate fails {c.false_alarm:.1%} of unchanged runs (> {FALSE_ALARM_TARGET:.0%})")
        elif not known:
            notes.append(f"{c.key}: no detectable drop: the gate's false-alarm rate at {c.at_seeds} seed(s) is not "
                         "known; recompute it (python -m suite calibrate --recompute, or --from-json FILE)")
        notes += [f"{c.key}: {n}" for n in c.notes]
    return "\n".join(lines + notes)


def noise_lines(entries: dict, profile, cell=printable) -> list[str]:
    """`baselines show`: the calibration figures of the entries that carry a noise block (nothing otherwise).
    ``cell``: how text from the file is written in a table cell (escaped)."""
    keys = [k for k in sorted(entries) if isinstance(entries[k].get("noise"), dict)]
    if not keys:
        return []
    lines = ["", "calibrated noise (python -m suite calibrate --write-baselines):",
             "| case | seed sd | calibration seeds | detectable drop (80%) | at seeds / tolerance | false alarm "
             "| target drop | recommended seeds / tolerance | measured |", "|---|---|---|---|---|---|---|---|---|"]
    for key in keys:
        e, z = entries[key], entries[key]["noise"]
        tol = vd.tolerance_for(e, vd.Policy(tolerance=profile.tolerance_for(key.split("/", 1)[0])))
        now = vd.calibrated_detectable(e, tol, z.get("at_seeds") or 0)
        where = "" if now is not None else " (calibrated for another tolerance or config: not used in verdicts)"
        lines.append(f"| {cell(key)} | {_n(z.get('sd'))} | {z.get('n_seeds', '?')} "
                     f"| {_n(z.get('detectable_drop'))}{where} "
                     f"| {z.get('at_seeds', '?')} / {_n(z.get('at_tolerance'))} | {_n(z.get('false_alarm'), '{:.1%}')} "
                     f"| {_n(z.get('detect_target'))} | {_n(z.get('recommended_seeds'), '{}')} / "
                     f"{_n(z.get('recommended_tolerance'))} | {cell((z.get('measured') or '?')[:10])} |")
    return lines


def _bisect(at_or_above, lo: float, hi: float) -> tuple[float, float]:
    """Narrow [lo, hi] to RESOLUTION around where the monotone ``at_or_above(x)`` turns true (false at lo, true at
    hi); returns the final (lo, hi)."""
    while hi - lo > RESOLUTION:
        mid = (lo + hi) / 2.0
        if at_or_above(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi
