"""Training methods: full fine-tuning and adapters (any adapters config string).

A ``Method`` knows how to make a model trainable its way and which learning-rate family it belongs to;
the profile gives each family its learning rate (adapters need roughly 10-50x the full fine-tuning rate).
Full fine-tuning is an ordinary method, so "the gap to full fine-tuning" is a pairing of two result rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .errors import SuiteError

ADAPTER_NAME = "bench"


@dataclass(frozen=True)
class Method:
    name: str                        # as the user writes it; also the baseline key and test id part
    adapter_config: str | None       # adapters config string; None: no adapter
    family: str                      # "full" or "adapter": selects the learning rate in the profile
    description: str = ""

    def apply(self, model) -> None:
        """Add the adapter (if any) and set requires_grad. Call after seeding: adapter init uses torch's RNG."""
        if self.adapter_config is None:
            for p in model.parameters():
                p.requires_grad_(True)
            return
        model.add_adapter(ADAPTER_NAME, config=self.adapter_config)
        model.train_adapter(ADAPTER_NAME)  # freezes the backbone, keeps the heads trainable, activates the adapter


_METHODS = {
    m.name: m
    for m in (
        Method("full", None, "full", "full fine-tuning: every weight trainable"),
        Method("seq_bn", "seq_bn", "adapter", "sequential bottleneck adapter after the FFN (Pfeiffer), reduction 16"),
    )
}
METHODS = MappingProxyType(_METHODS)


def get_method(name: str) -> Method:
    """A named method, or any adapters config string such as ``seq_bn[reduction_factor=4,leave_out=[0,1]]``."""
    name = name.strip().replace(" ", "")
    if name in METHODS:
        return METHODS[name]
    from adapters import AdapterConfig

    try:
        AdapterConfig.load(name)
    except (ValueError, TypeError, SyntaxError, KeyError) as exc:
        import difflib

        close = difflib.get_close_matches(name, list(METHODS), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise SuiteError(f"Unknown method '{name}' ({str(exc).splitlines()[0]}).{hint} Valid methods: "
                         f"{', '.join(sorted(METHODS))}, or an adapters config string such as "
                         "seq_bn[reduction_factor=4].") from None
    return Method(name, name, "adapter", f"adapters config string {name}")


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
        raise SuiteError(f"Unbalanced brackets in '{text}'. Example: --methods \"full,seq_bn[reduction_factor=4]\".")
    return items


def parse_methods(text: str) -> list[Method]:
    return [get_method(n) for n in split_list(text)]
