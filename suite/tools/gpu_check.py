"""``make gpu-check``: one prepared script (< 10 minutes on one GPU) for a machine with a CUDA GPU.

1. the smoke profile on CUDA in bf16 (all its cases), each case's metric next to the CPU baseline in
   ``baselines/smoke.json`` (fp32 on CPU: bf16 on a GPU is expected to land within the profile's tolerance,
   not on the same digits);
2. the paper profile's wiring on one short case: its recipe (lr, epochs per family, bf16, seeds) on the BERT-base
   shape with random weights and synthetic data, so that neither the Hub nor GLUE files are needed;
3. throughput at BERT-base shape (``--model bert-base-random``, max length 128, batch 32): train samples/s,
   MFU against the GPU's datasheet peak for bf16 and against the measured bf16 GEMM rate, for full fine-tuning and
   seq_bn, plus the engine against Trainer at its best (``suite perf``, fp32/TF32 on both sides).

Prints one table per step; accuracy of the random-weight model is meaningless and printed only as a sanity value.
``--allow-cpu --tiny`` runs the same wiring on the tiny model on CPU (what the tests do); without a GPU and
without ``--allow-cpu`` it says so and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from suite.config.methods import get_method
from suite.config.options import DEFAULT_BASELINES
from suite.config.profiles import cases, get_profile
from suite.engine import run as engine
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.tools import perf


def _fmt(x, spec=".1f", pct=False):
    if x is None:
        return "-"
    return f"{x:.1%}" if pct else format(x, spec)


def _rows(results, baseline=None) -> list[str]:
    lines = ["| case | metric | CPU baseline | train samples/s | MFU vs datasheet | MFU vs GEMM | GEMM TFLOP/s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        m = r.metric()
        ok = [x for x in r.runs if x.status == "ok"]
        run = ok[0] if ok else None
        base = (baseline or {}).get(r.key, {})
        bval = base.get("mean") if isinstance(base, dict) else None
        lines.append(f"| {r.task}/{r.method} | {m.mean:.2f} ({r.primary_metric}) | {_fmt(bval, '.2f')} | "
                     f"{_fmt(r.mean_of('train_samples_per_s'))} | {_fmt(run and run.mfu, pct=True)} | "
                     f"{_fmt(run and run.mfu_gemm, pct=True)} | "
                     f"{_fmt(run.gemm_flops_per_s / 1e12 if run and run.gemm_flops_per_s else None, '.1f')} |"
                     + ("" if r.ok else f" failed: {r.error}"))
    return lines


def _smoke_baselines(path: Path) -> dict:
    """The smoke baselines for context (the one validated loader); none when the file cannot be read."""
    try:
        return bl.load(path)["entries"]
    except SuiteError:
        return {}


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(prog="python -m suite.tools.gpu_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--allow-cpu", action="store_true", help="run even without CUDA (wiring check only)")
    ap.add_argument("--tiny", action="store_true", help="tiny model and data: seconds, for tests")
    ap.add_argument("--skip-trainer", action="store_true", help="leave out the Trainer comparison of step 3")
    args = ap.parse_args(argv)
    on_cuda = torch.cuda.is_available()
    if not on_cuda and not args.allow_cpu:
        print("gpu-check: no CUDA GPU visible (torch.cuda.is_available() is False); nothing to check here. "
              "Install a CUDA build of torch on a GPU machine, or pass --allow-cpu for a wiring check.",
              file=sys.stderr)
        return 2
    device = torch.cuda.get_device_name(0) if on_cuda else "CPU (wiring check: bf16 falls back to fp32)"
    print(f"# gpu-check on {device}; torch {torch.__version__}\n")
    t0 = time.perf_counter()
    tiny = args.tiny
    failed = False

    # 1. smoke profile in bf16
    smoke = dataclasses.replace(get_profile("smoke"), precision="bf16")
    if tiny:
        smoke = dataclasses.replace(smoke, model="tiny", train_size={"sst2": 64, "mnli": 64}, eval_size=48, epochs=1)
    results = [engine.run_case(c) for c in cases(smoke)]
    failed |= not all(r.ok for r in results)
    print("## 1. smoke profile, bf16\n")
    print("\n".join(_rows(results, _smoke_baselines(DEFAULT_BASELINES / "smoke.json"))))

    # 2. the paper profile's recipe on one short case, BERT-base shape, synthetic data
    paper = get_profile("paper")
    model = "tiny" if tiny else "bert-base-random"
    one = dataclasses.replace(paper, data="synthetic", tasks=("sst2",), train_size={"sst2": 64 if tiny else 2000},
                              eval_size=48 if tiny else 500, seeds=(0,), epochs=1, adapter_epochs=1)
    results = [engine.run_case(c) for c in cases(one, model=model, methods=[get_method("seq_bn")])]
    failed |= not all(r.ok for r in results)
    print(f"\n## 2. paper profile wiring: sst2/seq_bn, {model}, recipe lr {results[0].config['lr']}, "
          f"precision {results[0].config.get('precision', 'fp32')}, 1 epoch (random weights: accuracy means nothing)\n")
    print("\n".join(_rows(results)))

    # 3. throughput at BERT-base shape
    shape = dict(model=model, train_size=64 if tiny else 4000, eval_size=48 if tiny else 872,
                 max_length=32 if tiny else 128, epochs=1, batch_size=16 if tiny else 32, eval_batch_size=256)
    base = dataclasses.replace(get_profile("smoke"), data="synthetic", tasks=("sst2",),
                               train_size={"sst2": shape["train_size"]}, eval_size=shape["eval_size"],
                               max_length=shape["max_length"], epochs=1, batch_size=shape["batch_size"],
                               precision="bf16", seeds=(0,))
    results = [engine.run_case(c) for c in cases(base, model=model, methods=[get_method("full"), get_method("seq_bn")])]
    failed |= not all(r.ok for r in results)
    print(f"\n## 3. throughput at {model} shape, max length {shape['max_length']}, batch {shape['batch_size']}, bf16\n")
    print("\n".join(_rows(results)))
    if not args.skip_trainer:
        rows = perf.compare(model=model, train_size=shape["train_size"], eval_size=shape["eval_size"],
                            max_length=shape["max_length"], batch_size=shape["batch_size"], warmup=not tiny)
        print(f"\nengine vs Trainer at {model} shape (fp32; TF32 matmuls on CUDA):\n")
        print(perf.render(rows))
    print(f"\ngpu-check finished in {time.perf_counter() - t0:.0f} s" + ("; some runs FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
