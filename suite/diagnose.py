"""diagnose: why does an adapter trail full fine-tuning, and what closes the gap? Evidence, not guesses.

1. Pitfall checks on the setup before training, each a finding with its evidence: a frozen classification head,
   an adapter learning rate at full fine-tuning levels, adapter init drawn before seeding (non-reproducible),
   compared runs with different heads or model classes, too few optimizer steps.
2. Sweeps, each variant measured against full fine-tuning of the same run (same model, head, data and seeds):
   capacity, placement (leave_out), activation, learning rate, training length, and the hybrid remedy
   (adapter + unfrozen top layers).
3. For each factor, how much of the gap its best variant closes (points and % of the gap) next to a seed-noise
   band; factors inside the noise are named as such, the others ranked into a plain-words conclusion.

Runs are reused, never retrained, when a case with the same config hash already ran (in this process, or in the
on-disk cache of earlier diagnoses).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import SuiteError
from .methods import get_method
from .profiles import CaseSpec, Profile
from .results import CaseResult

FACTORS = ("capacity", "placement", "activation", "lr", "length", "hybrid")
CAUSE = {  # what a factor that closes the gap says about the cause
    "capacity": "capacity (the bottleneck is too small)",
    "placement": "placement (which layers carry adapters)",
    "activation": "the activation function",
    "lr": "under-training: the learning rate",
    "length": "under-training: too few steps",
    "hybrid": "the frozen upper layers (adapter + unfrozen top layers is the remedy)",
}
BOTTLENECK = {"seq_bn", "double_seq_bn", "par_bn", "scaled_par_bn", "compacter", "compacter++", "seq_bn_inv",
              "double_seq_bn_inv", "pfeiffer", "houlsby", "parallel", "scaled_parallel"}
CAPACITY_KEY = {**{b: "reduction_factor" for b in BOTTLENECK}, "lora": "r", "prefix_tuning": "prefix_length",
                "loreft": "r"}
MIN_ADAPTER_STEPS = 200     # fewer optimizer steps than this rarely let an adapter converge
ADAPTER_LR_FLOOR = 1e-4     # below this an adapter is trained at full fine-tuning rates
ADAPTER_LR_MIN_RATIO = 2.0  # nor below twice the full fine-tuning rate of the same run


# --- pitfall checks ----------------------------------------------------------------------------------------

@dataclass
class Finding:
    check: str
    ok: bool
    message: str
    evidence: dict = field(default_factory=dict)


def check_head_trainable(model) -> Finding:
    head = [(n, p) for n, p in model.named_parameters() if n.startswith("heads.") or n.startswith("classifier.")]
    frozen = [n for n, p in head if not p.requires_grad]
    n_params = sum(p.numel() for _, p in head)
    if not head:
        return Finding("head", False, "no classification head found on the model", {})
    if frozen:
        return Finding("head", False, f"the classification head is frozen ({len(frozen)} of {len(head)} tensors): a "
                       "randomly initialised head that cannot train makes any adapter look worse than it is; "
                       "unfreeze it", {"frozen": frozen, "head_params": n_params})
    return Finding("head", True, f"classification head trainable ({n_params:,} params)", {"head_params": n_params})


def check_adapter_lr(case: CaseSpec, full_case: CaseSpec) -> Finding:
    """Flagged exactly when the message's advice is not followed: an adapter rate below ADAPTER_LR_FLOOR, or below
    ADAPTER_LR_MIN_RATIO x the full fine-tuning rate."""
    ev = {"adapter_lr": case.lr, "full_lr": full_case.lr}
    if case.adapter_config is None and get_method(case.method).train_backbone:
        return Finding("lr", True, "full fine-tuning: no adapter learning rate to check", ev)
    if case.lr < ADAPTER_LR_FLOOR or case.lr < ADAPTER_LR_MIN_RATIO * full_case.lr:
        return Finding("lr", False, f"adapter learning rate {case.lr:g} is at full fine-tuning levels (full uses "
                       f"{full_case.lr:g}); adapters need at least {ADAPTER_LR_FLOOR:g} and at least "
                       f"{ADAPTER_LR_MIN_RATIO:g}x the full rate, usually {ADAPTER_LR_FLOOR:g} to 1e-3", ev)
    return Finding("lr", True, f"adapter learning rate {case.lr:g} is {case.lr / full_case.lr:.0f}x the full rate "
                   f"(at least {ADAPTER_LR_FLOOR:g} and {ADAPTER_LR_MIN_RATIO:g}x)", ev)


def check_seed_order(build: Callable[[int], object]) -> Finding:
    """Build twice with the same seed: adapter and head init must be identical, else the seed came too late."""
    import torch

    a, b = build(0), build(0)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    differ = [n for n, p in pa.items() if p.requires_grad and not torch.equal(p, pb[n])]
    if differ:
        return Finding("seed", False, f"the same seed gave different initial weights for {len(differ)} trainable "
                       "tensors: the seed is set after the adapter (or head) is created, so runs are not "
                       "reproducible; seed before building the model", {"differs": differ[:5]})
    return Finding("seed", True, "same seed, same initial adapter and head weights (seeded before creation)", {})


def check_same_setup(adapter_model, full_model) -> Finding:
    ev = {"adapter_model": type(adapter_model).__name__, "full_model": type(full_model).__name__}
    if ev["adapter_model"] != ev["full_model"]:
        return Finding("setup", False, f"compared runs use different model classes ({ev['adapter_model']} vs "
                       f"{ev['full_model']}): the gap mixes in the head difference", ev)
    def head_shapes(m):
        return [tuple(p.shape) for n, p in m.named_parameters() if n.startswith("heads.") or n.startswith("classifier.")]
    ha, hf = head_shapes(adapter_model), head_shapes(full_model)
    ev.update(adapter_head=ha, full_head=hf)
    if ha != hf:
        return Finding("setup", False, f"compared runs use different heads ({ha} vs {hf})", ev)
    return Finding("setup", True, f"same model class ({ev['adapter_model']}) and head for both runs", ev)


def check_steps(case: CaseSpec, train_rows: int) -> Finding:
    steps = math.ceil(train_rows / case.batch_size) * case.epochs
    ev = {"steps": steps, "train_rows": train_rows, "batch_size": case.batch_size, "epochs": case.epochs}
    if case.adapter_config is not None and steps < MIN_ADAPTER_STEPS:
        return Finding("steps", False, f"only {steps} optimizer steps ({train_rows} rows / batch {case.batch_size} x "
                       f"{case.epochs} epochs): adapters usually need more than {MIN_ADAPTER_STEPS} to converge; "
                       "train longer", ev)
    return Finding("steps", True, f"{steps} optimizer steps", ev)


def pitfall_checks(case: CaseSpec, full_case: CaseSpec) -> list[Finding]:
    """Run every check on the setup the suite would train (models are built, not trained)."""
    from transformers import set_seed

    from .engine import prepare_data
    from .models import load_model
    from .tasks import get_task

    task = get_task(case.task)

    def build(seed, spec=case):
        set_seed(seed)
        model = load_model(spec.model, task)
        get_method(spec.method).apply(model)
        return model

    adapter_model = build(0)
    prepared = prepare_data(case.task, case.data, case.glue_dir, case.train_size, case.eval_size, case.model,
                            case.max_length)
    return [check_head_trainable(adapter_model), check_adapter_lr(case, full_case), check_seed_order(build),
            check_same_setup(adapter_model, build(0, full_case)), check_steps(case, len(prepared.train))]


# --- sweep variants ----------------------------------------------------------------------------------------

@dataclass
class Variant:
    factor: str
    label: str
    case: CaseSpec


def _parse(method: str) -> tuple[str, dict, str]:
    """'seq_bn[reduction_factor=4]+top2' -> ('seq_bn', {'reduction_factor': 4}, '+top2')."""
    from adapters.utils import parse_adapter_config_string

    m = get_method(method)
    if m.adapter_config is None:
        raise SuiteError(f"diagnose explains an adapter's gap; '{method}' has no adapter. Use e.g. --method seq_bn.")
    suffix = method[len(m.adapter_config):] if method.startswith(m.adapter_config) else ""
    parts = parse_adapter_config_string(m.adapter_config)
    if len(parts) != 1:
        raise SuiteError(f"diagnose takes one adapter config, not a union ('{m.adapter_config}').")
    name, kwargs = parts[0]
    return name, dict(kwargs), suffix


def _config_string(name: str, kwargs: dict, suffix: str = "") -> str:
    if not kwargs:
        return name + suffix
    inner = ",".join(f"{k}={repr(v).replace(' ', '')}" for k, v in sorted(kwargs.items()))
    return f"{name}[{inner}]{suffix}"


def _with(case: CaseSpec, full_lr: float, method: str | None = None, **changes) -> CaseSpec:
    """A variant of the case; a new method string brings its adapter config (and, for hybrids, the backbone rate)."""
    if method is not None:
        m = get_method(method)
        changes.update(method=m.name, adapter_config=m.adapter_config, backbone_lr=full_lr if m.is_hybrid else None)
    return dataclasses.replace(case, **changes)


GRIDS = {  # full / small (the smoke profile) sweep sizes
    "capacity": {"full": [64, 16, 4, 2], "small": [64, 4]},
    "lora_capacity": {"full": [2, 8, 32, 64], "small": [2, 32]},
    "prefix_capacity": {"full": [10, 30, 60], "small": [10, 60]},
    "activation": {"full": ["relu", "gelu", "swish", "tanh"], "small": ["relu", "tanh"]},
    "lr": {"full": [1e-4, 3e-4, 1e-3, 3e-3], "small": [1e-4, 1e-3, 3e-3]},
    "length": {"full": [3], "small": [3]},
    "hybrid": {"full": [1, 2], "small": [2]},
}


def variants(case: CaseSpec, full_case: CaseSpec, n_layers: int, factors=FACTORS, budget: str = "full") -> tuple[list[Variant], dict[str, str]]:
    """The sweep for the chosen factors, and the factors skipped with why."""
    from adapters import AdapterConfig

    name, kwargs, suffix = _parse(case.method)
    current = AdapterConfig.load(get_method(case.method).adapter_config).to_dict()
    out, skipped = [], {}
    full_lr = full_case.lr

    def add(factor, label, **kw):
        v = _with(case, full_lr, **kw)
        if v.config_hash != case.config_hash:
            out.append(Variant(factor, label, v))

    for factor in factors:
        if factor == "capacity":
            key = CAPACITY_KEY.get(name)
            if key is None:
                skipped[factor] = f"{name} has no capacity knob the suite knows"
                continue
            grid = GRIDS["lora_capacity" if key == "r" else "prefix_capacity" if key == "prefix_length" else "capacity"][budget]
            for value in grid:
                if current.get(key) != value:
                    add(factor, f"{key}={value}", method=_config_string(name, {**kwargs, key: value}, suffix))
        elif factor == "placement":
            lower, upper = list(range(n_layers // 2)), list(range(n_layers // 2, n_layers))
            options = [("all layers", []), ("lower half only", upper), ("upper half only", lower),
                       ("top 2 only", list(range(n_layers - 2)))]
            for label, leave_out in options[: 3 if budget == "small" else 4]:
                kw = {k: v for k, v in kwargs.items() if k != "leave_out"}
                if leave_out:
                    kw["leave_out"] = leave_out
                add(factor, label, method=_config_string(name, kw, suffix))
        elif factor == "activation":
            if name not in BOTTLENECK:
                skipped[factor] = f"{name} has no activation to change"
                continue
            for act in GRIDS["activation"][budget]:
                if current.get("non_linearity") != act:
                    add(factor, act, method=_config_string(name, {**kwargs, "non_linearity": act}, suffix))
        elif factor == "lr":
            for lr in GRIDS["lr"][budget]:
                add(factor, f"lr={lr:g}", lr=lr)
        elif factor == "length":
            for x in GRIDS["length"][budget]:
                add(factor, f"{x}x epochs", epochs=case.epochs * x)
        elif factor == "hybrid":
            if suffix:
                skipped[factor] = "the method is already a hybrid"
                continue
            for k in GRIDS["hybrid"][budget]:
                if k <= n_layers:
                    add(factor, f"+top{k} unfrozen", method=case.method + f"+top{k}")
        else:
            raise SuiteError(f"Unknown factor '{factor}'. Valid factors: {', '.join(FACTORS)}.")
    return out, skipped


# --- measuring and judging ---------------------------------------------------------------------------------

@dataclass
class FactorEffect:
    factor: str
    best_label: str | None
    best_gap: float | None
    closed: float | None          # points of the gap closed by the best variant (positive: closes)
    closed_pct: float | None
    noise: float                  # the band an effect must exceed to count
    inside_noise: bool
    skipped: str | None = None


@dataclass
class Diagnosis:
    task: str
    method: str
    profile: str
    seeds: list[int]
    full_metric: float
    adapter_metric: float
    gap: float
    gap_sd: float
    noise: float
    noise_basis: str
    findings: list[Finding]
    effects: list[FactorEffect]
    runs: list[dict]             # every variant: factor, label, method, lr, epochs, metric, gap
    conclusion: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def judge_effects(base_gaps: list[float], variant_rows: list[tuple[Variant, list[float]]], skipped: dict[str, str],
                  fallback_noise: float, factors=FACTORS) -> tuple[list[FactorEffect], float, str]:
    """Per factor, the best variant's effect on the gap and whether it clears the noise band.

    Noise band: twice the standard error of the per-seed change when there are >= 2 paired seeds (seed-to-seed
    spread of the gap itself), else ``fallback_noise`` (the profile's tolerance) since one seed gives no estimate.
    """
    gap = statistics.fmean(base_gaps)
    if len(base_gaps) >= 2:
        noise_sd = statistics.stdev(base_gaps)
        noise = 2 * math.sqrt(2) * noise_sd / math.sqrt(len(base_gaps))  # SE of a difference of two such means
        basis = f"2 x standard error over {len(base_gaps)} paired seeds"
    else:
        noise = fallback_noise
        basis = "one seed: no noise estimate, the profile tolerance stands in"
    effects = []
    for factor in factors:
        rows = [(v, g) for v, g in variant_rows if v.factor == factor and g]
        if not rows:
            effects.append(FactorEffect(factor, None, None, None, None, noise, True, skipped.get(factor, "no variant ran")))
            continue
        v, g = max(rows, key=lambda vg: statistics.fmean(vg[1]))
        best = statistics.fmean(g)
        closed = best - gap
        pct = 100.0 * closed / abs(gap) if gap < 0 else None
        effects.append(FactorEffect(factor, v.label, best, closed, pct, noise, abs(closed) <= noise))
    return effects, noise, basis


def conclude(gap: float, effects: list[FactorEffect], method: str) -> str:
    if gap >= 0:
        lead = f"{method} does not trail full fine-tuning here (gap {gap:+.2f} points)."
    else:
        lead = f"{method} trails full fine-tuning by {-gap:.2f} points."
    ranked = sorted([e for e in effects if e.closed is not None and not e.inside_noise and e.closed > 0],
                    key=lambda e: e.closed, reverse=True)
    quiet = [e.factor for e in effects if e.closed is not None and (e.inside_noise or e.closed <= 0)]
    parts = [lead]
    if ranked:
        top = ranked[0]
        share = f"{top.closed_pct:.0f}% of it" if top.closed_pct is not None else f"{top.closed:+.2f} points"
        parts.append(f"The gap is mostly {CAUSE[top.factor]}: {top.best_label} closes {share} "
                     f"({top.closed:+.2f} points, gap {top.best_gap:+.2f}).")
        for e in ranked[1:]:
            share = f"{e.closed_pct:.0f}%" if e.closed_pct is not None else f"{e.closed:+.2f} points"
            parts.append(f"Next: {e.factor} ({e.best_label}) closes {share}.")
        parts.append(f"Remedy: {top.best_label} (gap {top.best_gap:+.2f}).")
    else:
        parts.append("No factor closes the gap beyond seed noise.")
    if quiet:
        parts.append(f"Inside seed noise, do not matter here: {', '.join(quiet)}.")
    return " ".join(parts)


def diagnose(case: CaseSpec, full_case: CaseSpec, profile: Profile, run: Callable[[CaseSpec], CaseResult], *,
             factors=FACTORS, budget: str | None = None, checks: bool = True) -> Diagnosis:
    from .models import num_layers

    budget = budget or ("small" if profile.name == "smoke" else "full")
    findings = pitfall_checks(case, full_case) if checks else []
    full, base = run(full_case), run(case)
    for r in (full, base):
        if not r.ok:
            raise SuiteError(f"diagnose: the reference run {r.key} failed ({r.error}); fix that first.")
    base_gaps = base.paired_diffs(full)
    vs, skipped = variants(case, full_case, num_layers(case.model), factors, budget)
    measured = []
    runs = []
    for v in vs:
        r = run(v.case)
        g = r.paired_diffs(full) if r.ok else []
        measured.append((v, g))
        runs.append({"factor": v.factor, "label": v.label, "method": v.case.method, "lr": v.case.lr,
                     "epochs": v.case.epochs, "metric": r.metric().mean if r.ok else None,
                     "gap": statistics.fmean(g) if g else None, "error": r.error, "config_hash": v.case.config_hash})
    effects, noise, basis = judge_effects(base_gaps, measured, skipped, profile.tolerance_for(case.task), factors)
    gap = statistics.fmean(base_gaps)
    return Diagnosis(task=case.task, method=case.method, profile=profile.name, seeds=list(case.seeds),
                     full_metric=full.metric().mean, adapter_metric=base.metric().mean, gap=gap,
                     gap_sd=statistics.stdev(base_gaps) if len(base_gaps) > 1 else 0.0, noise=noise,
                     noise_basis=basis, findings=findings, effects=effects, runs=runs,
                     conclusion=conclude(gap, effects, case.method))


# --- outputs -----------------------------------------------------------------------------------------------

def to_markdown(d: Diagnosis, plot_name: str | None = None) -> str:
    out = [f"# Diagnosis: {d.method} on {d.task}", "",
           f"profile {d.profile}, seeds {d.seeds}; full fine-tuning {d.full_metric:.2f}, {d.method} "
           f"{d.adapter_metric:.2f}: gap **{d.gap:+.2f}** points (seed sd {d.gap_sd:.2f}); noise band "
           f"±{d.noise:.2f} ({d.noise_basis}).", "", "## Conclusion", "", d.conclusion, "", "## Pitfall checks", ""]
    out += [f"- {'ok' if f.ok else '**PROBLEM**'} ({f.check}): {f.message}" for f in d.findings] or ["- (skipped)"]
    out += ["", "## How much of the gap each factor closes", "",
            "| factor | best variant | gap with it | closed (points) | closed (% of gap) | noise band | verdict |",
            "|---|---|---|---|---|---|---|"]
    for e in d.effects:
        if e.closed is None:
            out.append(f"| {e.factor} | - | - | - | - | - | skipped: {e.skipped} |")
            continue
        verdict = "inside seed noise" if e.inside_noise else ("closes" if e.closed > 0 else "widens")
        pct = "-" if e.closed_pct is None else f"{e.closed_pct:.0f}%"
        out.append(f"| {e.factor} | {e.best_label} | {e.best_gap:+.2f} | {e.closed:+.2f} | {pct} | ±{e.noise:.2f} | {verdict} |")
    out += ["", "## Every run", "", "| factor | variant | method | lr | epochs | metric | gap to full |", "|---|---|---|---|---|---|---|"]
    for r in d.runs:
        metric = "failed" if r["metric"] is None else f"{r['metric']:.2f}"
        gap = "-" if r["gap"] is None else f"{r['gap']:+.2f}"
        out.append(f"| {r['factor']} | {r['label']} | `{r['method']}` | {r['lr']:g} | {r['epochs']} | {metric} | {gap} |")
    if plot_name:
        out += ["", f"![gap closed per factor]({plot_name})"]
    return "\n".join(out) + "\n"


def plot(d: Diagnosis, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted([e for e in d.effects if e.closed is not None], key=lambda e: e.closed)  # largest on top
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * max(len(rows), 1) + 2.0))
    y = list(range(len(rows)))
    ax.barh(y, [e.closed for e in rows], xerr=[e.noise for e in rows], capsize=4,
            color=["#bbbbbb" if e.inside_noise else "#2ca02c" if e.closed > 0 else "#d62728" for e in rows])
    ax.set_yticks(y, [f"{e.factor}\n({e.best_label})" for e in rows], fontsize=8)
    if d.gap < 0:
        ax.axvline(-d.gap, color="black", ls="--", lw=1, label=f"whole gap ({-d.gap:.2f})")
        ax.legend(fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("points of the gap closed by the factor's best variant (error bars: noise band)")
    ax.set_title(f"{d.method} on {d.task}\nwhat closes the gap to full fine-tuning (grey: inside seed noise)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(d: Diagnosis, out_dir) -> list[Path]:
    from .baselines import write_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot(d, out / "diagnosis.png")
    md = out / "diagnosis.md"
    md.write_text(to_markdown(d, png.name), encoding="utf-8")
    js = out / "diagnosis.json"
    write_atomic(js, d.to_dict())
    return [md, js, png]


class DiskCache:
    """Results of earlier runs by config hash (and data location), so a repeated diagnosis does not retrain."""

    def __init__(self, directory, run: Callable[[CaseSpec], CaseResult]):
        self.dir = Path(directory)
        self._run = run
        self.hits = 0

    def _path(self, case: CaseSpec) -> Path:
        where = hashlib.sha256(str(case.glue_dir or "").encode()).hexdigest()[:8]
        return self.dir / f"{case.config_hash}-{where}.json"

    def __call__(self, case: CaseSpec) -> CaseResult:
        from .baselines import write_atomic

        path = self._path(case)
        if path.exists():
            try:
                result = CaseResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
                if result.config_hash == case.config_hash:
                    self.hits += 1
                    return result
            except (json.JSONDecodeError, TypeError, KeyError):
                pass  # a damaged cache entry is simply recomputed
        result = self._run(case)
        if result.ok:
            write_atomic(path, result.to_dict())
        return result
