"""Training methods: full fine-tuning, head-only, every adapter family of the adapters library, and hybrids.

A ``Method`` knows what to make trainable and which learning-rate family it belongs to. Names:

* ``full`` (everything trainable) and ``head_only`` (frozen encoder, trainable classification head);
* the adapters library's families by their config ids: ``seq_bn``, ``double_seq_bn``, ``par_bn``,
  ``scaled_par_bn``, ``compacter``, ``lora``, ``ia3``, ``prefix_tuning``, ``loreft``, ``mam``, ``unipelt``;
* any adapters config string, e.g. ``seq_bn[reduction_factor=2,leave_out=[0,1,2,3,4,5]]`` or ``lora[r=16]``;
* hybrids ``<method>+top<k>`` (plus the top k encoder layers unfrozen) and ``...+ln`` (plus every LayerNorm).

The classification head is trainable for every method: a frozen head is a known cause of a false adapter deficit.
Unfrozen backbone weights of hybrids train at the profile's full fine-tuning rate, the adapter and head at the
adapter rate (``CaseSpec.backbone_lr``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from types import MappingProxyType

from suite.errors import SuiteError, shown, suggest

ADAPTER_NAME = "bench"
_HYBRID = re.compile(r"^(?P<base>.+?)(?:\+top(?P<k>\d+))?(?P<ln>\+ln)?$")


@dataclass(frozen=True)
class Method:
    name: str                        # as the user writes it; also the baseline key and test id part
    adapter_config: str | None       # adapters config string; None: no adapter
    train_backbone: bool = False     # True only for full fine-tuning
    top_k: int = 0                   # hybrids: also unfreeze the top k encoder layers
    unfreeze_ln: bool = False        # hybrids: also unfreeze every LayerNorm of the encoder
    default_lr: float | None = None  # None: the profile's rate for the family
    description: str = ""

    @property
    def family(self) -> str:
        """"full" (low learning rate, everything trains) or "adapter" (parameter-efficient, high learning rate)."""
        return "full" if self.train_backbone else "adapter"

    @property
    def is_hybrid(self) -> bool:
        return self.top_k > 0 or self.unfreeze_ln

    def apply(self, model) -> None:
        """Add the adapter (if any) and set requires_grad. Call after seeding: adapter init uses torch's RNG."""
        if self.train_backbone:
            for p in model.parameters():
                p.requires_grad_(True)
            return
        if self.adapter_config is not None:
            model.add_adapter(ADAPTER_NAME, config=self.adapter_config)
            model.train_adapter(ADAPTER_NAME)  # freezes the backbone, keeps heads trainable, activates the adapter
        else:
            for p in model.base_model.parameters():
                p.requires_grad_(False)
        self._unfreeze_hybrid_parts(model)
        for name, p in model.named_parameters():
            if name.startswith("heads."):
                p.requires_grad_(True)

    def _unfreeze_hybrid_parts(self, model) -> None:
        """A hybrid's extra trainable parts: the top ``top_k`` encoder layers, and every LayerNorm with ``+ln``."""
        if self.top_k:
            layers = encoder_layers(model)
            if self.top_k > len(layers):
                raise SuiteError(f"Method {self.name}: the model has only {len(layers)} encoder layers.")
            for layer in layers[len(layers) - self.top_k:]:
                for p in layer.parameters():
                    p.requires_grad_(True)
        if self.unfreeze_ln:
            for name, p in model.base_model.named_parameters():
                if "LayerNorm" in name or "layer_norm" in name:
                    p.requires_grad_(True)


def encoder_layers(model):
    base = model.base_model
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        obj = base
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return list(obj)
    raise SuiteError(f"Cannot find the encoder layers of {type(base).__name__} for a +top<k> hybrid.")


_ADAPTER_FAMILIES = {
    "seq_bn": ("sequential bottleneck after the FFN (Pfeiffer), reduction 16", None),
    "double_seq_bn": ("two sequential bottlenecks per layer (Houlsby), reduction 16", None),
    "par_bn": ("parallel bottleneck (He et al.), reduction 2, scaling 4", None),
    "scaled_par_bn": ("parallel bottleneck with learned scaling", None),
    "compacter": ("Kronecker-factored PHM adapters (Compacter), lr 3e-3 as in its paper", 3e-3),
    "lora": ("low-rank update of query and value, r=8 alpha=8", None),
    "ia3": ("learned rescaling of keys, values and FFN (IA3), lr 3e-3 as in T-Few", 3e-3),
    "prefix_tuning": ("30 trainable prefix vectors per layer through a 512-wide MLP", None),
    "loreft": ("low-rank representation fine-tuning on 3 prefix positions, r=1", None),
    "mam": ("prefix tuning (800) plus a parallel bottleneck (MAM adapter)", None),
    "unipelt": ("gated union of prefix tuning, seq_bn and LoRA (UniPELT)", None),
}

_METHODS = {
    "full": Method("full", None, train_backbone=True, description="full fine-tuning: every weight trainable"),
    "head_only": Method("head_only", None, description="frozen encoder, only the classification head trains"),
    **{name: Method(name, name, default_lr=lr, description=desc) for name, (desc, lr) in _ADAPTER_FAMILIES.items()},
}
METHODS = MappingProxyType(_METHODS)


def get_method(name: str) -> Method:
    """A named method, a hybrid, or any adapters config string."""
    name = name.strip().replace(" ", "")
    if name in METHODS:
        return METHODS[name]
    m = _HYBRID.match(name)
    if m and (m.group("k") or m.group("ln")):
        base = get_method(m.group("base"))
        if base.train_backbone or base.is_hybrid:
            raise SuiteError(f"Method '{shown(name)}': +top<k>/+ln extend a frozen-backbone method (an adapter or "
                             "head_only), not full fine-tuning or another hybrid.")
        k = int(m.group("k") or 0)
        return dataclasses.replace(base, name=name, top_k=k, unfreeze_ln=bool(m.group("ln")),
                                   description=f"{base.name} plus the top {k} encoder layers"
                                               + (" and every LayerNorm" if m.group("ln") else "") + " unfrozen")
    if os.path.isfile(name):
        # adapters would load the file as a JSON config, and the case would be hashed and keyed by its path alone:
        # an edited file would reuse stale baselines and cached runs. Refused: write it as a config string.
        raise SuiteError(f"Method '{shown(name)}' names a file; a method is a name or an adapters config string, "
                         "never a file path (its content would not be part of the config hash). Write the config as "
                         "a string, e.g. --methods \"seq_bn[reduction_factor=4]\".")
    from adapters import AdapterConfig

    try:
        config = AdapterConfig.load(name)
    except Exception as exc:  # ValueError, SyntaxError, TypeError, MemoryError... from parsing the user's string
        close = suggest(name, list(METHODS))
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        detail = shown(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise SuiteError(f"Unknown method '{shown(name)}' ({detail}).{hint} Valid methods: {', '.join(METHODS)}, "
                         "hybrids such as seq_bn+top2 or lora+top1+ln, or an adapters config string such as "
                         "seq_bn[reduction_factor=4].") from None
    _check_values(name, config.to_dict())
    base = METHODS.get(name.split("[", 1)[0])
    return Method(name, name, default_lr=base.default_lr if base else None, description=f"adapters config {name}")


# sizes the adapters library accepts unchecked and then trains with (or crashes on) deep inside a run
_POSITIVE = ("reduction_factor", "r", "alpha", "phm_dim", "prefix_length", "bottleneck_size")


def _check_values(name: str, config: dict, where: str = "") -> None:
    """Every number in an adapters config is finite, and the sizes in _POSITIVE are > 0: a typo such as
    reduction_factor=-4 or alpha=1e400 is one line before any training, not a crash or a NaN run later."""
    import math

    for key, value in config.items():
        path = f"{where}{key}"
        if isinstance(value, dict):
            _check_values(name, {f"{k}": v for k, v in value.items()}, f"{path}.")
            continue
        if isinstance(value, (list, tuple)):
            _check_values(name, {str(i): v for i, v in enumerate(value)}, f"{path}.")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        top = path.split(".")[0]
        if not math.isfinite(value):
            raise SuiteError(f"Method '{shown(name)}': {path}={value} is not a finite number.")
        if top in _POSITIVE and value <= 0:
            raise SuiteError(f"Method '{shown(name)}': {path}={value} must be > 0.")


def split_list(text: str) -> list[str]:
    """Split a comma list at top-level commas only: 'full,seq_bn[a=1,b=[0,1]]' -> ['full', 'seq_bn[a=1,b=[0,1]]']."""
    items, depth, current = [], 0, []
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    items = [i.strip() for i in items if i.strip()]
    if depth != 0:
        raise SuiteError(f"Unbalanced brackets in '{shown(text)}'. "
                         "Example: --methods \"full,seq_bn[reduction_factor=4]\".")
    return items


def parse_methods(text: str) -> list[Method]:
    methods = [get_method(n) for n in split_list(text)]
    if not methods:
        raise SuiteError("--methods is empty; name at least one method, e.g. --methods full,seq_bn.")
    return methods
