"""diagnose: why does an adapter trail full fine-tuning, and what closes the gap? Evidence, not guesses.

1. Pitfall checks on the setup before training, each a finding with its evidence: a frozen classification head,
   an adapter learning rate at full fine-tuning levels, adapter init drawn before seeding (non-reproducible),
   compared runs with different heads or model classes, too few optimizer steps.
2. Sweeps read from one table (GRID): per factor and adapter family, how each variant is derived from the case's
   config, the cause it tests and the remedy; families that cannot vary a factor are declared there with why.
3. Paired statistics: every variant against the case itself on the same seeds (per-seed differences, t interval),
   Holm-corrected across all variants of the diagnosis. A factor closes the gap only when a variant's corrected
   interval lies above zero; "makes it worse" is its own verdict; % of the gap only when the gap itself is
   outside seed noise. One seed gives effects, not verdicts.

Runs are reused, never retrained, when the same case already ran in this process, or in the on-disk cache of
earlier diagnoses with the same config, data, package releases and suite source (``DiskCache``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

from suite.errors import SuiteError
from suite.config.methods import get_method
from suite.config.profiles import CaseSpec, Profile
from suite.engine.results import CaseResult

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

    from suite.engine.run import prepare_data
    from suite.config.models import load_model
    from suite.config.tasks import get_task

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


# --- the sweep grid: data ----------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Ctx:
    """What a derivation sees: the case, its parsed adapter config, the full fine-tuning rate, the layer count."""
    case: CaseSpec
    name: str          # adapters config id, e.g. "seq_bn"
    kwargs: dict       # the arguments the case's config string sets
    suffix: str        # hybrid suffix, e.g. "+top2"
    current: dict      # the case's whole adapter config, defaults filled in
    full_lr: float
    n_layers: int
    hidden_size: Callable[[], int]  # the model's width, looked up only by derivations that need it


@dataclass(frozen=True)
class Skip:
    """A family cannot vary a factor (or the case already is the variant): said, not discovered by crashing."""
    reason: str


@dataclass(frozen=True)
class Sweep:
    """How one factor varies for one adapter family: ``derive(ctx, value)`` gives (label, CaseSpec changes), None
    when the value is the case itself, or a Skip; ``grid`` lists the values per budget ("full", "small")."""
    derive: Callable[[Ctx, object], "tuple[str, dict] | Skip | None"]
    grid: Mapping[str, tuple]


@dataclass(frozen=True)
class Factor:
    cause: str                             # what a factor that closes the gap says about the cause
    remedy: str                            # the advice; "{variant}" is the winning variant's label
    by_family: Mapping[str, Sweep | Skip]  # adapter family -> how it varies; "*": every family


def _set_config(key: str, keep_ratio: str | None = None):
    """Set one config argument; ``keep_ratio`` scales a second one with it (LoRA: alpha with r, so alpha/r and
    with it the size of the update stay as in the case: capacity is not confounded with update scale)."""
    def derive(ctx: Ctx, value):
        if ctx.current.get(key) == value:
            return None
        kw, label = {**ctx.kwargs, key: value}, f"{key}={value}"
        if keep_ratio:
            scaled = value * ctx.current[keep_ratio] / ctx.current[key]
            scaled = int(scaled) if float(scaled).is_integer() else round(scaled, 6)
            kw[keep_ratio] = scaled
            label += f",{keep_ratio}={scaled}"
        return label, {"method": _config_string(ctx.name, kw, ctx.suffix)}
    return derive


PLACEMENTS = {  # label -> the layers that carry the adapter, given the number of layers
    "all layers": lambda n: list(range(n)),
    "lower half only": lambda n: list(range(n // 2)),
    "upper half only": lambda n: list(range(n // 2, n)),
    "top 2 only": lambda n: list(range(max(n - 2, 0), n)),
}


def _phm_reduction(ctx: Ctx, value):
    """Compacter's PHM layers need the bottleneck (hidden size / reduction factor) divisible by phm_dim: other
    reduction factors are left out of the sweep rather than crashing in the adapters library."""
    bottleneck = ctx.hidden_size() // value
    if bottleneck < 1 or bottleneck % ctx.current.get("phm_dim", 1):
        return None
    return _set_config("reduction_factor")(ctx, value)


def _placement(key: str):
    """``leave_out`` (layers without the adapter: bottleneck, LoRA, IA3, prefix tuning) or ``layers`` (layers with
    an intervention: ReFT, which has no leave_out)."""
    def derive(ctx: Ctx, label: str):
        use = PLACEMENTS[label](ctx.n_layers)
        kw = {k: v for k, v in ctx.kwargs.items() if k != key}
        if len(use) < ctx.n_layers:
            kw[key] = [i for i in range(ctx.n_layers) if i not in use] if key == "leave_out" else use
        return label, {"method": _config_string(ctx.name, kw, ctx.suffix)}
    return derive


def _lr(ctx: Ctx, lr: float):
    return f"lr={lr:g}", {"lr": lr}


def _length(ctx: Ctx, times: int):
    return f"{times}x epochs", {"epochs": ctx.case.epochs * times}


def _hybrid(ctx: Ctx, k: int):
    if ctx.suffix:
        return Skip("the method is already a hybrid")
    if k > ctx.n_layers:
        return None
    return f"+top{k} unfrozen", {"method": ctx.case.method + f"+top{k}"}


FAMILIES = ("bottleneck", "phm_bottleneck", "lora", "ia3", "prefix_tuning", "reft", "union", "other")
_PLACES = {"full": tuple(PLACEMENTS), "small": tuple(PLACEMENTS)[:3]}
_UNION = Skip("a union of configs (e.g. mam, unipelt): diagnose its parts one at a time")
_OTHER = Skip("the suite has no sweep for this adapter type")

GRID: Mapping[str, Factor] = MappingProxyType({
    "capacity": Factor("capacity (the adapter is too small)", "give the adapter more capacity: {variant}", {
        "bottleneck": Sweep(_set_config("reduction_factor"), {"full": (64, 16, 4, 2), "small": (64, 4)}),
        "phm_bottleneck": Sweep(_phm_reduction, {"full": (64, 32, 16, 4, 2), "small": (64, 4)}),
        "lora": Sweep(_set_config("r", keep_ratio="alpha"), {"full": (2, 8, 32, 64), "small": (2, 32)}),
        "prefix_tuning": Sweep(_set_config("prefix_length"), {"full": (10, 30, 60), "small": (10, 60)}),
        "reft": Sweep(_set_config("r"), {"full": (1, 4, 16), "small": (1, 8)}),
        "ia3": Skip("IA3 learns one scaling vector per module: it has no capacity knob"),
        "union": _UNION, "other": _OTHER}),
    "placement": Factor("placement (which layers carry adapters)", "place the adapter in: {variant}", {
        **{f: Sweep(_placement("leave_out"), _PLACES) for f in ("bottleneck", "phm_bottleneck", "lora", "ia3",
                                                                "prefix_tuning")},
        "reft": Sweep(_placement("layers"), _PLACES),
        "union": _UNION, "other": _OTHER}),
    "activation": Factor("the activation function", "switch the activation: {variant}", {
        **{f: Sweep(_set_config("non_linearity"), {"full": ("relu", "gelu", "swish", "tanh"), "small": ("relu", "tanh")})
           for f in ("bottleneck", "phm_bottleneck")},
        "lora": Skip("LoRA is a linear low-rank update: it has no activation"),
        "ia3": Skip("IA3 rescales activations: it has no activation of its own"),
        "prefix_tuning": Skip("prefix tuning's only activation is in its reparametrisation MLP: not swept"),
        "reft": Skip("LoReFT is a linear intervention (non_linearity None): adding one changes the method"),
        "union": _UNION, "other": _OTHER}),
    "lr": Factor("under-training: the learning rate", "train at {variant}", {
        "*": Sweep(_lr, {"full": (1e-4, 3e-4, 1e-3, 3e-3), "small": (1e-4, 1e-3, 3e-3)})}),
    "length": Factor("under-training: too few steps", "train longer ({variant})", {
        "*": Sweep(_length, {"full": (3,), "small": (3,)})}),
    "hybrid": Factor("the frozen upper layers", "unfreeze the top layers as well ({variant})", {
        "*": Sweep(_hybrid, {"full": (1, 2), "small": (2,)})}),
})
FACTORS = tuple(GRID)
CAUSE = {name: f.cause for name, f in GRID.items()}


def family_of(config) -> str:
    """The adapter family (a key of ``Factor.by_family``) of a loaded adapters config."""
    from adapters import BnConfig, ConfigUnion, IA3Config, LoRAConfig, PrefixTuningConfig, ReftConfig

    if isinstance(config, BnConfig) and config.phm_layer:
        return "phm_bottleneck"  # Compacter: a bottleneck whose width must divide by phm_dim
    for cls, family in ((ConfigUnion, "union"), (BnConfig, "bottleneck"), (IA3Config, "ia3"), (LoRAConfig, "lora"),
                        (PrefixTuningConfig, "prefix_tuning"), (ReftConfig, "reft")):
        if isinstance(config, cls):
            return family
    return "other"


def variants(case: CaseSpec, full_case: CaseSpec, n_layers: int, factors=FACTORS, budget: str = "full",
             hidden_size: int | None = None) -> tuple[list[Variant], dict[str, str]]:
    """The sweep for the chosen factors, read from GRID, and the factors skipped with why. A variant equal to the
    case, or to an earlier variant, is left out (same loaded adapter config and same other settings)."""
    from adapters import AdapterConfig

    name, kwargs, suffix = _parse(case.method)
    config = AdapterConfig.load(get_method(case.method).adapter_config)
    family = family_of(config)
    def width():
        from suite.config.models import hidden_size as model_hidden_size

        return hidden_size or model_hidden_size(case.model)

    ctx = Ctx(case, name, kwargs, suffix, config.to_dict(), full_case.lr, n_layers, width)
    def same_as(spec: CaseSpec) -> str:  # config strings that load to the same config are the same run
        m = get_method(spec.method)
        loaded = AdapterConfig.load(m.adapter_config).to_dict() if m.adapter_config else None
        rest = dataclasses.replace(spec, method=spec.method[len(m.adapter_config or ""):], adapter_config=None)
        return json.dumps([loaded, rest.config()], sort_keys=True, default=str)

    out, skipped, seen = [], {}, {same_as(case)}
    for factor in factors:
        spec = GRID.get(factor)
        if spec is None:
            raise SuiteError(f"Unknown factor '{factor}'. Valid factors: {', '.join(FACTORS)}.")
        how = spec.by_family.get(family, spec.by_family.get("*"))
        if isinstance(how, Skip):
            skipped[factor] = f"{name}: {how.reason}"
            continue
        found = []
        for value in how.grid[budget]:
            change = how.derive(ctx, value)
            if isinstance(change, Skip):
                skipped[factor], found = change.reason, []
                break
            if change is not None:
                label, changes = change
                v = _with(case, full_case.lr, **changes)
                if same_as(v) not in seen:
                    seen.add(same_as(v))
                    found.append(Variant(factor, label, v))
        out += found
    return out, skipped


# --- statistics --------------------------------------------------------------------------------------------

ALPHA = 0.05  # family-wise error rate of the verdicts of one diagnosis (and the gap's interval level)

STATISTICS = ("each variant is compared with the case itself on the same seeds: per seed, variant minus case "
              "(points); mean, two-sided paired t test and t interval (n-1 degrees of freedom); Holm's step-down "
              "correction across all {m} variants of this diagnosis at family-wise alpha {alpha:g}; a corrected "
              "interval is the t interval at the level Holm tested that variant at, so it excludes zero exactly "
              "when Holm rejects. A factor closes the gap when a variant's corrected interval lies above zero, "
              "makes it worse when none does and one lies below. The gap is a paired t interval of case minus "
              "full fine-tuning at {level:g}%")
ONE_SEED = ("one seed: no noise estimate, so effects are shown without verdicts (nothing is called closing or "
            "not mattering)")


def holm(pvalues, alpha: float = ALPHA) -> tuple[list[float], list[float]]:
    """Holm's step-down procedure (hand-written: scipy has only false-discovery-rate corrections).

    Returns the adjusted p-values (reject when <= alpha) and, per hypothesis, the level it was tested at:
    alpha/(m-k) for the k-th smallest p (k from 0) up to the first one kept; that one and every later one get the
    level of the first one kept. An interval at that level excludes the null exactly when Holm rejects.
    """
    import numpy as np

    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    steps = alpha / (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    kept = np.flatnonzero(adjusted_sorted > alpha)
    levels_sorted = steps.copy()
    if kept.size:
        levels_sorted[kept[0]:] = steps[kept[0]]
    adjusted, levels = np.empty(m), np.empty(m)
    adjusted[order], levels[order] = adjusted_sorted, levels_sorted
    return adjusted.tolist(), levels.tolist()


def _t_tests(means, ses, dofs, alphas) -> tuple[list[float], list[list[float]]]:
    """Two-sided p-values of mean 0 and (1 - alpha) t intervals; se 0 means no spread: p is 0 (or 1 at mean 0)."""
    import numpy as np
    from scipy import stats

    means, ses, dofs, alphas = (np.asarray(x, dtype=float) for x in (means, ses, dofs, alphas))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(ses > 0, np.abs(means) / np.where(ses > 0, ses, 1.0), np.where(means != 0, np.inf, 0.0))
    p = np.where(np.isinf(tstat), 0.0, 2 * stats.t.sf(tstat, dofs))
    p = np.where((ses == 0) & (means == 0), 1.0, p)
    half = stats.t.ppf(1 - alphas / 2, dofs) * ses
    return p.tolist(), [[float(m - h), float(m + h)] for m, h in zip(means, half)]


@dataclass
class GapStat:
    """The case's gap to full fine-tuning, per seed paired."""
    diffs: list[float]            # per seed: case - full (points)
    mean: float
    sd: float | None              # None with one seed
    ci: list[float] | None        # t interval at 1 - alpha; None with one seed
    p: float | None
    verdict: str                  # "trails", "ahead", "inside seed noise", "one seed"

    @property
    def outside_noise(self) -> bool:
        return self.verdict in ("trails", "ahead")


def gap_stat(diffs: list[float], alpha: float = ALPHA) -> GapStat:
    if not diffs:
        raise SuiteError("diagnose: the case and full fine-tuning share no successful seed; nothing to compare.")
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return GapStat(list(diffs), mean, None, None, None, "one seed")
    sd = statistics.stdev(diffs)
    [p], [ci] = _t_tests([mean], [sd / math.sqrt(len(diffs))], [len(diffs) - 1], [alpha])
    verdict = "inside seed noise" if ci[0] <= 0 <= ci[1] else ("trails" if mean < 0 else "ahead")
    return GapStat(list(diffs), mean, sd, ci, p, verdict)


@dataclass
class VariantEffect:
    """One variant against the case itself, on the same seeds."""
    factor: str
    label: str
    diffs: list[float]              # per seed: variant - case (points); positive: closer to full fine-tuning
    n: int
    mean: float | None
    sd: float | None
    ci: list[float] | None          # t interval at 1 - alpha, uncorrected
    p: float | None                 # two-sided paired t test of a zero mean
    p_holm: float | None            # Holm-adjusted over every tested variant of the diagnosis
    ci_holm: list[float] | None     # t interval at the level Holm tested it at
    verdict: str                    # "closes", "makes it worse", "no detectable effect", "effect only (one seed)",
                                    # "failed"


@dataclass
class FactorEffect:
    """A factor's verdict and the variant it is about: for "closes" the largest significant gain, for "makes it
    worse" the largest significant loss, otherwise the largest mean effect."""
    factor: str
    verdict: str                    # as VariantEffect, plus "skipped"
    best_label: str | None
    closed: float | None            # that variant's mean effect on the case (points; positive closes the gap)
    ci_holm: list[float] | None
    p_holm: float | None
    best_gap: float | None          # the gap to full fine-tuning with it (case gap + effect)
    closed_pct: float | None        # % of the gap: only when the gap is outside seed noise and negative
    worse: list[str] = field(default_factory=list)   # variants with a significant loss
    n_variants: int = 0
    skipped: str | None = None


def judge_effects(gap: GapStat, rows: list[tuple[str, str, list[float]]], skipped: dict[str, str],
                  factors=FACTORS, alpha: float = ALPHA) -> tuple[list[VariantEffect], list[FactorEffect]]:
    """Per variant (factor, label, per-seed differences to the case) its paired effect and Holm-corrected verdict;
    per factor the verdict of its variants. The report and the tests' null simulation both judge through this."""
    out = []
    for factor, label, diffs in rows:
        n = len(diffs)
        mean = statistics.fmean(diffs) if n else None
        sd = statistics.stdev(diffs) if n >= 2 else None
        out.append(VariantEffect(factor, label, list(diffs), n, mean, sd, None, None, None, None,
                                 "failed" if n == 0 else "effect only (one seed)"))
    tested = [v for v in out if v.n >= 2]
    if tested:
        means = [v.mean for v in tested]
        ses = [v.sd / math.sqrt(v.n) for v in tested]
        dofs = [v.n - 1 for v in tested]
        ps, cis = _t_tests(means, ses, dofs, [alpha] * len(tested))
        adjusted, levels = holm(ps, alpha)
        _, cis_holm = _t_tests(means, ses, dofs, levels)
        for v, p, ci, pa, ch in zip(tested, ps, cis, adjusted, cis_holm):
            v.p, v.ci, v.p_holm, v.ci_holm = p, ci, pa, ch
            v.verdict = ("closes" if ch[0] > 0 else "makes it worse") if pa <= alpha else "no detectable effect"
    factor_effects = []
    for factor in factors:
        mine = [v for v in out if v.factor == factor]
        measured = [v for v in mine if v.n]
        if not measured:
            factor_effects.append(FactorEffect(factor, "skipped" if factor in skipped or not mine else "failed",
                                               None, None, None, None, None, None,
                                               skipped=skipped.get(factor) or ("no variant to run" if not mine
                                                                               else "every variant's run failed")))
            continue
        closes = [v for v in measured if v.verdict == "closes"]
        worse = [v for v in measured if v.verdict == "makes it worse"]
        if closes:
            verdict, about = "closes", max(closes, key=lambda v: v.mean)
        elif worse:
            verdict, about = "makes it worse", min(worse, key=lambda v: v.mean)
        else:
            about = max(measured, key=lambda v: v.mean)
            verdict = about.verdict if about.n < 2 else "no detectable effect"
        pct = 100.0 * about.mean / -gap.mean if gap.verdict == "trails" else None
        factor_effects.append(FactorEffect(factor, verdict, about.label, about.mean, about.ci_holm, about.p_holm,
                                           gap.mean + about.mean, pct, [v.label for v in worse], len(mine)))
    return out, factor_effects


def _interval(ci) -> str:
    return "-" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def conclude(gap: GapStat, effects: list[FactorEffect], method: str, n_seeds: int, rerun: str | None = None,
             alpha: float = ALPHA) -> str:
    level = f"{100 * (1 - alpha):g}%"
    if gap.verdict == "one seed":
        lead = f"{method} is {gap.mean:+.2f} points from full fine-tuning (one seed: no noise estimate)."
    elif gap.verdict == "trails":
        lead = (f"{method} trails full fine-tuning by {-gap.mean:.2f} points ({level} t interval "
                f"{_interval(gap.ci)} over {n_seeds} paired seeds).")
    elif gap.verdict == "ahead":
        lead = f"{method} does not trail full fine-tuning: it is {gap.mean:+.2f} points ahead ({_interval(gap.ci)})."
    else:
        lead = (f"The gap of {method} to full fine-tuning ({gap.mean:+.2f} points, {level} t interval "
                f"{_interval(gap.ci)}) is inside seed noise: there is no gap to explain at {n_seeds} seeds.")
    parts = [lead]
    measured = [e for e in effects if e.closed is not None]
    if gap.verdict == "one seed":
        ranked = sorted(measured, key=lambda e: e.closed, reverse=True)
        if ranked:
            parts.append("Effects, not verdicts: " + "; ".join(f"{e.factor} ({e.best_label}) {e.closed:+.2f}"
                                                               for e in ranked) + " points.")
        parts.append(f"{ONE_SEED[0].upper()}{ONE_SEED[1:]}." + (f" {rerun}" if rerun else ""))
        return " ".join(parts)
    closing = sorted([e for e in effects if e.verdict == "closes"], key=lambda e: e.closed, reverse=True)
    for i, e in enumerate(closing):
        share = f"{e.closed_pct:.0f}% of the gap, " if e.closed_pct is not None else ""
        what = f"{e.best_label} gains {share}{e.closed:+.2f} points (Holm-corrected interval {_interval(e.ci_holm)})"
        parts.append(f"The gap is mostly {e.factor}, {CAUSE[e.factor]}: {what}." if i == 0 and gap.verdict == "trails"
                     else f"{e.factor} matters: {what}.")
    if closing:
        parts.append("Remedy: " + GRID[closing[0].factor].remedy.format(variant=closing[0].best_label) + ".")
    else:
        parts.append("No factor's variant closes the gap beyond seed noise (Holm-corrected).")
    worse = [e for e in effects if e.verdict == "makes it worse"]
    if worse:
        parts.append("Makes it worse: " + ", ".join(f"{e.factor} ({', '.join(e.worse)})" for e in worse) + ".")
    quiet = [e.factor for e in effects if e.verdict == "no detectable effect"]
    if quiet:
        parts.append(f"No effect detectable at {n_seeds} seeds (not proof that they do not matter): "
                     f"{', '.join(quiet)}.")
    return " ".join(parts)


# --- diagnosing --------------------------------------------------------------------------------------------

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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    from suite.config.models import num_layers

    if not 0 < alpha < 1:
        raise SuiteError(f"diagnose: alpha must be between 0 and 1, got {alpha}.")
    budget = budget or ("small" if profile.name == "smoke" else "full")
    findings = pitfall_checks(case, full_case) if checks else []
    full, base = run(full_case), run(case)
    for r in (full, base):
        if not r.ok:
            raise SuiteError(f"diagnose: the reference run {r.key} failed ({r.error}); fix that first.")
    gap = gap_stat(base.paired_diffs(full), alpha)
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
    per_variant, effects = judge_effects(gap, rows, skipped, factors, alpha)
    tested = sum(v.n >= 2 for v in per_variant)
    basis = ONE_SEED if gap.verdict == "one seed" else STATISTICS.format(m=tested, alpha=alpha,
                                                                         level=100 * (1 - alpha))
    rerun = rerun_hint(results) if gap.verdict == "one seed" else None
    return Diagnosis(task=case.task, method=case.method, profile=profile.name, seeds=list(case.seeds), alpha=alpha,
                     full_metric=full.metric().mean, adapter_metric=base.metric().mean, gap=gap.mean,
                     gap_sd=gap.sd, gap_ci=gap.ci, gap_verdict=gap.verdict, statistics=basis, findings=findings,
                     effects=effects, variants=per_variant, runs=runs,
                     conclusion=conclude(gap, effects, case.method, len(gap.diffs), rerun, alpha), rerun=rerun)


# --- outputs -----------------------------------------------------------------------------------------------

def _num(x, fmt="+.2f") -> str:
    return "-" if x is None else format(x, fmt)


def to_markdown(d: Diagnosis, plot_name: str | None = None) -> str:
    if d.gap_verdict == "one seed":
        gap_line = "one seed: no noise estimate"
    else:
        gap_line = (f"paired over {len(d.seeds)} seeds: sd {d.gap_sd:.2f}, {100 * (1 - d.alpha):g}% t interval "
                    f"{_interval(d.gap_ci)}, {d.gap_verdict}")
    out = [f"# Diagnosis: {d.method} on {d.task}", "",
           f"profile {d.profile}, seeds {d.seeds}; full fine-tuning {d.full_metric:.2f}, {d.method} "
           f"{d.adapter_metric:.2f}: gap **{d.gap:+.2f}** points ({gap_line}).", "",
           f"Statistics: {d.statistics}.", "", "## Conclusion", "", d.conclusion, "", "## Pitfall checks", ""]
    out += [f"- {'ok' if f.ok else '**PROBLEM**'} ({f.check}): {f.message}" for f in d.findings] or ["- (skipped)"]
    out += ["", "## What each factor does", "",
            "| factor | variant | effect (points) | Holm-corrected interval | Holm p | gap with it | % of the gap | verdict |",
            "|---|---|---|---|---|---|---|---|"]
    for e in d.effects:
        if e.closed is None:
            out.append(f"| {e.factor} | - | - | - | - | - | - | {e.verdict}: {e.skipped} |")
            continue
        verdict = e.verdict + (f" ({', '.join(e.worse)})" if e.verdict == "makes it worse" else "")
        out.append(f"| {e.factor} | {e.best_label} | {e.closed:+.2f} | {_interval(e.ci_holm)} | {_num(e.p_holm, '.3g')} "
                   f"| {e.best_gap:+.2f} | {_num(e.closed_pct, '.0f')} | {verdict} |")
    out += ["", "## Every variant", "",
            "| factor | variant | method | lr | epochs | metric | gap to full | effect per seed | effect | "
            f"{100 * (1 - d.alpha):g}% interval | Holm p | corrected interval | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r, v in zip(d.runs, d.variants):
        metric = "failed" if r["metric"] is None else f"{r['metric']:.2f}"
        per_seed = ", ".join(f"{x:+.2f}" for x in v.diffs) or "-"
        out.append(f"| {r['factor']} | {r['label']} | `{r['method']}` | {r['lr']:g} | {r['epochs']} | {metric} | "
                   f"{_num(r['gap'])} | {per_seed} | {_num(v.mean)} | {_interval(v.ci)} | {_num(v.p_holm, '.3g')} | "
                   f"{_interval(v.ci_holm)} | {v.verdict} |")
    if plot_name:
        out += ["", f"![effect per factor]({plot_name})"]
    return "\n".join(out) + "\n"


COLOURS = {"closes": "#2ca02c", "makes it worse": "#d62728", "no detectable effect": "#bbbbbb",
           "effect only (one seed)": "#6baed6"}


def plot(d: Diagnosis, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted([e for e in d.effects if e.closed is not None], key=lambda e: e.closed)  # largest on top
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * max(len(rows), 1) + 2.0))
    y = list(range(len(rows)))
    err = [[e.closed - e.ci_holm[0] if e.ci_holm else 0 for e in rows],
           [e.ci_holm[1] - e.closed if e.ci_holm else 0 for e in rows]]
    ax.barh(y, [e.closed for e in rows], xerr=err, capsize=4, color=[COLOURS.get(e.verdict, "#bbbbbb") for e in rows])
    ax.set_yticks(y, [f"{e.factor}\n({e.best_label})" for e in rows], fontsize=8)
    if d.gap_verdict == "trails":
        ax.axvline(-d.gap, color="black", ls="--", lw=1, label=f"whole gap ({-d.gap:.2f})")
        ax.legend(fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    bars = "no error bars: one seed" if d.gap_verdict == "one seed" else "error bars: Holm-corrected t intervals"
    ax.set_xlabel(f"effect of the factor's variant on the case, points ({bars})")
    ax.set_title(f"{d.method} on {d.task}\ngreen closes, red makes it worse, grey no detectable effect, "
                 "blue one seed (no verdict)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(d: Diagnosis, out_dir) -> list[Path]:
    from suite.gate.baselines import write_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot(d, out / "diagnosis.png")
    md = out / "diagnosis.md"
    md.write_text(to_markdown(d, png.name), encoding="utf-8")
    js = out / "diagnosis.json"
    write_atomic(js, d.to_dict())
    return [md, js, png]


# --- the run cache -----------------------------------------------------------------------------------------

CACHE_PACKAGES = ("torch", "transformers", "adapters", "datasets")


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """The content of the suite's own source files: any code change retrains rather than reusing older runs."""
    from suite.config.paths import PACKAGE as root
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run_identity(case: CaseSpec) -> dict:
    """Everything a cached run must share with a new one to stand in for it: the config hash, the data (the
    tokenized-data cache key: sha256 of the source files' contents, or the synthetic generator's
    source; sample sizes; tokenizer), the package releases and the suite's version and source."""
    from importlib import metadata

    from suite import __version__
    from suite.data import token_cache as cache
    from suite.config.tasks import get_task

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "missing"

    return {"config_hash": case.config_hash,
            "data": cache.key(get_task(case.task), case.data, case.glue_dir, case.train_size, case.eval_size,
                              case.model, case.max_length),
            "packages": {p: version(p) for p in CACHE_PACKAGES}, "suite": __version__, "source": source_hash()}


class DiskCache:
    """Results of earlier runs, reused only when their whole ``run_identity`` matches, so that a repeated
    diagnosis does not retrain and runs from older code, other package releases or other data are never reused."""

    def __init__(self, directory, run: Callable[[CaseSpec], CaseResult]):
        self.dir = Path(directory)
        self._run = run
        self.hits = 0

    def _entry(self, case: CaseSpec) -> tuple[Path, dict]:
        identity = run_identity(case)
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        return self.dir / f"{case.config_hash}-{digest}.json", identity

    def __call__(self, case: CaseSpec) -> CaseResult:
        from suite.gate.baselines import write_atomic

        path, identity = self._entry(case)
        if path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                result = CaseResult.from_dict(stored["result"])
                if stored.get("identity") == identity and result.config_hash == case.config_hash:
                    self.hits += 1
                    return result
            except (json.JSONDecodeError, TypeError, KeyError, AttributeError):
                pass  # a damaged cache entry is simply recomputed
        result = self._run(case)
        if result.ok:
            write_atomic(path, {"identity": identity, "result": result.to_dict()})
        return result
