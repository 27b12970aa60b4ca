"""How far a run is from what the hardware can do: model FLOPs per token and a short GEMM calibration.

Model FLOPs utilisation (MFU) is useful model work per second divided by a peak. Two peaks are reported:

* the **measured GEMM rate**: what this machine's matrix multiplications reach at the model's shapes and the run's
  precision (fp32 on CPU, bf16 under autocast, TF32 for fp32 on CUDA), measured in-process with the run's thread
  count. A datasheet has no figure for a CPU and a shared CPU never reaches one; this is the honest ceiling.
* the **datasheet peak** of the GPU for the run's precision (dense, no sparsity), on CUDA only.

Model FLOPs count the matrix multiplications of the encoder layers only, for real (non-padding) tokens:

* embeddings are a lookup (no matmul), the pooler is not on the classification path, and the head acts once per
  sequence, not per token: none is counted (counting every parameter overstated MiniLM's MFU ~2.1x);
* forward: 2 FLOPs per weight of each layer's matmuls (adapter and LoRA matrices included: they run) plus the
  attention term 4·s·d per layer (QKᵀ and A·V), s the token-weighted mean sequence length (Σs²/Σs);
* backward: activation gradients through every layer at or above the lowest one that holds a trainable weight
  (2 per weight + 8·s·d: both operands of the two attention products), and weight gradients for what needs
  them (2 per trainable weight). Full fine-tuning gives the usual 6N + 12·L·s·d; an adapter in every layer ~4N;
  a frozen encoder with a trainable head, 2N.
Written by hand: no library counts FLOPs from requires_grad at this granularity (fvcore/torch's FlopCounterMode
count what was executed, including padding, and need a traced step per shape).
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

# dense peaks per GPU by precision, FLOP/s (NVIDIA datasheets, SXM/PCIe as sold; no 2:4 sparsity)
PEAK_FLOPS = {
    "bf16": {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
             "4090": 165e12},
    "tf32": {"H200": 494e12, "H100": 494e12, "A100": 156e12, "L40S": 183e12, "L4": 60e12, "A10": 62.5e12,
             "4090": 82.6e12},
}
_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
GEMM_MIN_SECONDS = 0.1    # per shape: long enough to average out timer noise, short enough to run per case


@dataclass(frozen=True)
class Flops:
    per_token: float          # training FLOPs per real token (forward + backward)
    forward_per_token: float  # inference FLOPs per real token
    layers: int
    matmul_weights: int       # weights of the encoder layers' matmuls (the N above)
    trainable_matmul: int     # of which need gradients
    lowest_trainable_layer: int | None  # None: gradients never enter the encoder layers


def model_flops(model, seq_len: float) -> Flops:
    """Training and inference FLOPs per real token of ``model`` (see the module docstring)."""
    per_layer: dict[int, list[int]] = {}   # layer -> [matmul weights, trainable matmul weights]
    outside_trainable = False
    for name, p in model.named_parameters():
        m = _LAYER.search(name)
        if m is None or name.startswith("heads."):
            if p.requires_grad and not name.startswith("heads.") and "pooler" not in name:
                outside_trainable = True   # e.g. embeddings under full fine-tuning: gradients reach layer 0
            continue
        if p.ndim < 2:
            continue  # biases, LayerNorm: elementwise, not matmuls
        row = per_layer.setdefault(int(m.group(1)), [0, 0])
        row[0] += p.numel()
        if p.requires_grad:
            row[1] += p.numel()
    if not per_layer:
        return Flops(0.0, 0.0, 0, 0, 0, None)
    layers = sorted(per_layer)
    d = _hidden(model)
    trainable_layers = [i for i in layers if per_layer[i][1]]
    lowest = layers[0] if outside_trainable else (trainable_layers[0] if trainable_layers else None)
    forward = sum(2 * per_layer[i][0] + 4 * seq_len * d for i in layers)
    act_grad = sum(2 * per_layer[i][0] + 8 * seq_len * d for i in layers if lowest is not None and i >= lowest)
    weight_grad = sum(2 * per_layer[i][1] for i in layers)
    return Flops(forward + act_grad + weight_grad, forward, len(layers), sum(r[0] for r in per_layer.values()),
                 sum(r[1] for r in per_layer.values()), lowest)


def _hidden(model) -> int:
    cfg = getattr(model, "config", None)
    return int(getattr(cfg, "hidden_size", None) or getattr(cfg, "dim", 0) or 0)


def effective_seq_len(lengths) -> float:
    """Token-weighted mean sequence length Σs²/Σs: the s of the per-token attention term."""
    total = sum(lengths)
    return sum(x * x for x in lengths) / total if total else 0.0


def datasheet_peak(device, precision: str) -> float | None:
    """Dense datasheet peak of a CUDA device for ``precision`` ("bf16", or "tf32" for fp32 with TF32 on)."""
    import torch

    if getattr(device, "type", None) != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.get(precision, {}).items() if k in name), None)


def gemm_rate(device, precision: str, tokens: float, hidden: int, intermediate: int) -> float:
    """Measured matmul FLOP/s at the model's shapes: (tokens x hidden) times (hidden x hidden), (hidden x
    intermediate) and (intermediate x hidden), the projections every layer runs. ``tokens`` (rows per batch) is
    rounded to a half power of two, so that runs of one case share one calibration; cached per process."""
    import math

    import torch

    rows = max(1, round(2 ** (round(2 * math.log2(max(tokens, 1))) / 2)))
    return _gemm_rate(str(device), precision, rows, int(hidden), int(intermediate), torch.get_num_threads())


@functools.lru_cache(maxsize=32)
def _gemm_rate(device: str, precision: str, tokens: int, hidden: int, intermediate: int, threads: int) -> float:
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    flops = seconds = 0.0
    for k, n in ((hidden, hidden), (hidden, intermediate), (intermediate, hidden)):
        a = torch.randn(tokens, k, generator=gen).to(dev, dtype)
        b = torch.randn(k, n, generator=gen).to(dev, dtype)
        for _ in range(2):  # warm-up: kernel selection, allocator
            a @ b
        _sync(dev)
        reps, t0 = 0, time.perf_counter()
        while True:
            a @ b
            reps += 1
            if reps % 4 == 0:
                _sync(dev)
                if time.perf_counter() - t0 >= GEMM_MIN_SECONDS:
                    break
        seconds += time.perf_counter() - t0
        flops += 2.0 * tokens * k * n * reps
    return flops / seconds


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
