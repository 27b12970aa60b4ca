"""Speed options of the engine: declared once here, each applied in one place of ``suite.engine.run``.

A case carries its options as a sorted tuple of names (``CaseSpec.speed``, part of the config hash when not empty:
bf16 and compilation change the numbers a little, so they are other cases with other baselines). ``python -m
suite perf --ablate`` measures every option against the engine's defaults (docs/speed-and-scale.md).

Where each lands in the engine: ``eager-attention`` in build (the model's attention implementation), the AdamW
options in build (the optimizer), ``cpu-bf16`` in the accelerator (autocast around forward, so training and
evaluation), ``compile`` in build (the forward the train and evaluate loops call).
"""

from __future__ import annotations

import functools

from suite.errors import SuiteError, shown

SPEED_OPTIONS = {
    "eager-attention": "attention as explicit matmul + softmax (transformers' 'eager') instead of PyTorch SDPA, the "
                       "default",
    "foreach-adamw": "AdamW through torch's multi-tensor (foreach) kernels instead of the fused kernel, the default",
    "loop-adamw": "AdamW one tensor at a time (torch's single-tensor path; the engine's CPU default before fused AdamW "
                  "was measured 1.5x faster for full fine-tuning)",
    "cpu-bf16": "bf16 autocast on a CPU with native bf16 (avx512_bf16 or AMX); on CUDA use the profile's "
                "precision=bf16 instead",
    "compile": "torch.compile(dynamic=True) of the forward pass; the first steps compile and are left out of the "
               "headline samples/s with the other warm-up steps",
}
EXCLUSIVE = (("foreach-adamw", "loop-adamw"),)


def parse_speed(text: str | None) -> tuple[str, ...]:
    """'compile,cpu-bf16' -> ('compile', 'cpu-bf16'): sorted, so that spellings of one set share a config hash."""
    if text is None or not str(text).strip():
        return ()
    names = [t.strip() for t in str(text).split(",")]
    if any(not n for n in names):
        raise SuiteError(f"--speed {shown(text)} has an empty item; give a comma list of: {', '.join(SPEED_OPTIONS)}.")
    return check_speed(names)


def check_speed(names) -> tuple[str, ...]:
    unknown = [n for n in names if n not in SPEED_OPTIONS]
    if unknown:
        raise SuiteError(f"Unknown speed option {shown(unknown[0])}; known: {', '.join(SPEED_OPTIONS)} "
                         "(docs/speed-and-scale.md, 'Speed options').")
    chosen = tuple(sorted(set(names)))
    for group in EXCLUSIVE:
        both = [g for g in group if g in chosen]
        if len(both) > 1:
            raise SuiteError(f"Speed options {' and '.join(both)} exclude each other; pick one.")
    return chosen


def check_hardware(speed: tuple[str, ...]) -> None:
    """Before any training: an option this machine cannot honour is one line, not a slow or wrong run."""
    if "cpu-bf16" in speed and not cpu_has_bf16():
        raise SuiteError("Speed option cpu-bf16 needs a CPU with native bf16 (avx512_bf16 or AMX); this one emulates "
                         "it, which is slower than fp32. Leave cpu-bf16 out here.")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    try:
        flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    if flags:
        return "avx512_bf16" in flags or "amx_bf16" in flags
    try:  # not Linux: ask oneDNN
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def attention(speed: tuple[str, ...]) -> str:
    return "eager" if "eager-attention" in speed else "sdpa"


def adamw_kwargs(speed: tuple[str, ...], on_cuda: bool) -> dict:
    """Fused AdamW by default on CPU and CUDA (as Trainer's default ``adamw_torch_fused``)."""
    if "foreach-adamw" in speed:
        return {"foreach": True}
    if "loop-adamw" in speed:
        return {"foreach": False}
    return {"fused": True}


def autocast_bf16(speed: tuple[str, ...], precision: str, on_cuda: bool) -> bool:
    return (precision == "bf16" and on_cuda) or ("cpu-bf16" in speed and not on_cuda)


def warmup_steps(speed: tuple[str, ...]) -> int:
    """Steps left out of the headline samples/s: the first (allocator, kernel choice); compilation needs more
    (a static graph, then a dynamic-shape one)."""
    return 3 if "compile" in speed else 1
