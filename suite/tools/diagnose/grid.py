"""The sweep grid (GRID): per factor and adapter family, how each variant is derived from the case's config, the
cause it tests and the remedy; families that cannot vary a factor are declared there with why. ``variants`` reads
the sweep for a case from it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from suite.config.methods import get_method
from suite.config.models import hidden_size as model_hidden_size
from suite.config.profiles import CaseSpec
from suite.errors import SuiteError


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
    derive: Callable[[Ctx, object], tuple[str, dict] | Skip | None]
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
        **{f: Sweep(_set_config("non_linearity"),
                    {"full": ("relu", "gelu", "swish", "tanh"), "small": ("relu", "tanh")})
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
