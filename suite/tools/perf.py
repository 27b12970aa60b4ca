"""Engine vs Hugging Face Trainer: the same model, data, batch size, max length, epochs and learning rate, side by
side in one process. ``python -m suite perf`` prints train and eval samples/s, real and padded tokens/s and the
ratios for full fine-tuning (``Trainer``) and seq_bn (``adapters.AdapterTrainer``). A benchmark that prints
numbers; no timed assertions anywhere.

Trainer runs twice, so that the engine is compared with the peer at its best and not only at its defaults:
``trainer-default`` is what ``run_glue.py`` users get (random batches, gradient clipping at norm 1.0) and
``trainer-tuned`` is Trainer configured well on this hardware: ``group_by_length=True`` (batches of similar
length: far less padding) and no gradient clipping, like the engine. With ``group_by_length=True``, transformers
(4.46 and later) length-groups the evaluation set too, so ``predict()`` returns predictions in another order: they
are scored against the ``label_ids`` of the same output, never against the dataset's labels.

Both sides are timed the same way: samples divided by the wall time of the whole training call (first step
included) and of the whole prediction call, after one untimed warm-up run of each side so that first-call costs
(allocator growth, kernel selection) are not charged to whichever runs first.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass

from suite.config import speed as speed_opts
from suite.config.methods import get_method, split_list
from suite.config.models import load_model, load_tokenizer
from suite.config.profiles import CaseSpec
from suite.data.metrics import compute
from suite.engine.run import encode, length_grouped_batches, prepare_data, run_seed
from suite.errors import SuiteError, shown

TRAINER_SIDES = {
    "trainer-default": dict(group_by_length=False, max_grad_norm=1.0),   # run_glue.py as users run it
    "trainer-tuned": dict(group_by_length=True, max_grad_norm=0.0),      # at its best here; no clipping, as the engine
}


@dataclass
class PerfRow:
    method: str
    side: str                    # "engine", "trainer-default" or "trainer-tuned"
    train_samples_per_s: float
    eval_samples_per_s: float
    accuracy: float
    real_tokens_per_s: float = 0.0     # non-padding tokens trained on per second
    padded_tokens_per_s: float = 0.0   # tokens the model actually processed (padding included) per second
    mfu_gemm: float | None = None      # engine only: model FLOPs utilisation vs the measured GEMM rate
    train_samples_per_cpu_s: float = 0.0  # per second of process CPU time: the figure a busy machine moves least


def parse_count(flag: str, text, least: int, most: int | None = None) -> int:
    """A whole number in least..most for perf's size options, or one SuiteError line."""
    try:
        value = int(str(text).strip())
    except ValueError:
        try:  # 1e20: a whole number in float notation is still a number; its size is judged below
            as_float = float(str(text).strip())
            value = int(as_float) if as_float.is_integer() else None
        except (ValueError, OverflowError):
            value = None
    if value is None or value < least:
        raise SuiteError(f"{flag} must be a whole number >= {least}; got '{shown(text)}'.")
    if most is not None and value > most:
        raise SuiteError(f"{flag} {shown(text)} is larger than any run this command makes sense for (at most "
                         f"{most:,}); choose a smaller number.")
    return value


def parse_methods(text: str) -> tuple[str, ...]:
    """--methods of perf: known methods or config strings (a typo is one line); trainer sides need full/adapters."""
    names = tuple(get_method(m).name for m in split_list(text))
    if not names:
        raise SuiteError("perf --methods needs at least one method, e.g. --methods full,seq_bn.")
    return names


def _lr(method: str, lrs: dict) -> float:
    return lrs.get(method, 5e-5 if get_method(method).adapter_config is None else 1e-3)


def _case(method: str, *, model, data, glue_dir, train_size, eval_size, max_length, epochs, batch_size,
          eval_batch_size, lr, speed=(), precision="fp32") -> CaseSpec:
    m = get_method(method)
    return CaseSpec(profile="perf", task="sst2", method=m.name, adapter_config=m.adapter_config, model=model, data=data,
                    train_size=train_size, eval_size=eval_size, max_length=max_length, epochs=epochs,
                    batch_size=batch_size, eval_batch_size=eval_batch_size, lr=lr, warmup_ratio=0.06,
                    weight_decay=0.01, seeds=(0,), glue_dir=glue_dir, speed=tuple(speed), precision=precision)


def engine_side(case: CaseSpec) -> PerfRow:
    import torch

    r = run_seed(case, 0)
    prepared = _prepared(case)
    lengths = prepared.train.lengths
    n_train = len(lengths) * case.epochs
    n_eval = len(prepared.evals[""])
    generator = torch.Generator().manual_seed(0)  # the engine's own batches for seed 0, re-drawn to count padding
    batches = [b for _ in range(case.epochs) for b in length_grouped_batches(lengths, case.batch_size, generator)]
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return PerfRow(case.method, "engine", n_train / r.train_time_s, n_eval / r.eval_time_s, r.metrics["accuracy"],
                   real / r.train_time_s, padded / r.train_time_s, r.mfu_gemm,
                   n_train / r.train_cpu_time_s if r.train_cpu_time_s else 0.0)


def _prepared(case: CaseSpec):
    return prepare_data(case.task, case.data, case.glue_dir, case.train_size, case.eval_size, case.model,
                        case.max_length)


class _CountingCollator:
    """DataCollatorWithPadding that counts the real and padded tokens of every training batch it builds."""

    def __init__(self, tok):
        from transformers import DataCollatorWithPadding

        self.inner, self.real, self.padded, self.counting = DataCollatorWithPadding(tok), 0, 0, True

    def __call__(self, features):
        batch = self.inner(features)
        if self.counting:
            self.real += int(batch["attention_mask"].sum())
            self.padded += int(batch["input_ids"].numel())
        return batch


def trainer_side(case: CaseSpec, side: str = "trainer-tuned") -> PerfRow:
    import datasets
    import numpy as np
    import torch
    from adapters import AdapterTrainer
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

    prepared = _prepared(case)
    tok = load_tokenizer(case.model)
    task = prepared.task

    def to_ds(ds):
        enc = encode(ds, tok, task, case.max_length)
        cols = {"input_ids": enc.input_ids, "labels": enc.labels}
        if enc.token_type_ids is not None:
            cols["token_type_ids"] = enc.token_type_ids
        cols["attention_mask"] = [[1] * len(x) for x in enc.input_ids]
        return datasets.Dataset.from_dict(cols)

    train_ds, eval_ds = to_ds(prepared.data.train), to_ds(prepared.data.evals[""])
    set_seed(0)
    model = load_model(case.model, task, pooling=case.pooling)
    method = get_method(case.method)
    method.apply(model)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=case.batch_size,
            per_device_eval_batch_size=case.eval_batch_size,
            num_train_epochs=case.epochs, learning_rate=case.lr, warmup_ratio=case.warmup_ratio,
            weight_decay=case.weight_decay, lr_scheduler_type="linear", logging_strategy="no", save_strategy="no",
            eval_strategy="no", report_to=[], seed=0, disable_tqdm=True, label_names=["labels"],
            remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
            bf16=case.precision == "bf16" or "cpu-bf16" in case.speed,  # same precision as the engine side
            **TRAINER_SIDES[side])
        cls = Trainer if method.adapter_config is None else AdapterTrainer
        collator = _CountingCollator(tok)
        trainer = cls(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, data_collator=collator)
        trainer.remove_callback(PrinterCallback)  # its end-of-training metrics dict would interleave with the table
        t, c = time.perf_counter(), time.process_time()
        trainer.train()
        train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
        collator.counting = False
        t = time.perf_counter()
        pred = trainer.predict(eval_ds)
        eval_s = time.perf_counter() - t
    preds = np.asarray(pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions).argmax(-1)
    labels = np.asarray(pred.label_ids)  # the order predict() returned (length-grouped when group_by_length is on)
    acc = compute("sst2", preds.tolist(), labels.tolist())["accuracy"]
    return PerfRow(case.method, side, len(train_ds) * case.epochs / train_s, len(eval_ds) / eval_s, acc,
                   collator.real / train_s, collator.padded / train_s, None, len(train_ds) * case.epochs / train_cpu)


def compare(*, model="minilm", glue_dir=None, train_size=2000, eval_size=None, max_length=64, epochs=1,
            batch_size=32, eval_batch_size=256, lrs=None, methods=("full", "seq_bn"), warmup=True,
            bf16=False) -> list[PerfRow]:
    """Engine vs Trainer (default and tuned) per method. ``bf16``: both sides under bf16 autocast (the engine's
    cpu-bf16 option on CPU, precision=bf16 on CUDA; Trainer's bf16=True)."""
    import torch

    lrs = dict(lrs or {})
    precision, speed = ("fp32", ())
    if bf16:
        precision, speed = ("bf16", ()) if torch.cuda.is_available() else ("fp32", ("cpu-bf16",))
        speed_opts.check_hardware(speed)
    data = "glue" if glue_dir else "synthetic"
    rows = []
    for method in methods:
        case = _case(method, model=model, data=data, glue_dir=str(glue_dir) if glue_dir else None,
                     train_size=train_size, eval_size=eval_size, max_length=max_length, epochs=epochs,
                     batch_size=batch_size, eval_batch_size=eval_batch_size, lr=_lr(method, lrs), speed=speed,
                     precision=precision)
        if warmup:
            small = dataclasses.replace(case, train_size=min(train_size, 256), eval_size=256)
            engine_side(small)
            trainer_side(small)
        rows += [engine_side(case), *(trainer_side(case, side) for side in TRAINER_SIDES)]
    return rows


def render(rows: list[PerfRow]) -> str:
    by = {(r.method, r.side): r for r in rows}
    lines = ["| method | side | train samples/s | samples/CPU-s | real tokens/s | padded tokens/s | eval samples/s | "
             "accuracy | MFU vs GEMM |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.method} | {r.side} | {r.train_samples_per_s:.1f} | {r.train_samples_per_cpu_s:.1f} | "
                     f"{r.real_tokens_per_s:.0f} | "
                     f"{r.padded_tokens_per_s:.0f} | {r.eval_samples_per_s:.1f} | {r.accuracy:.2f} | "
                     f"{f'{r.mfu_gemm:.1%}' if r.mfu_gemm else '-'} |")
    lines += ["", "| method | engine / Trainer tuned: train, train per CPU-s, eval | engine / Trainer as run_glue: "
              "train, train per CPU-s, eval |", "|---|---|---|"]

    def ratios(e, t):
        cpu = f"{e.train_samples_per_cpu_s / t.train_samples_per_cpu_s:.2f}x" if t.train_samples_per_cpu_s else "-"
        return (f"{e.train_samples_per_s / t.train_samples_per_s:.2f}x, {cpu}, "
                f"{e.eval_samples_per_s / t.eval_samples_per_s:.2f}x")

    for method in dict.fromkeys(r.method for r in rows):
        e, t, d = by[(method, "engine")], by[(method, "trainer-tuned")], by[(method, "trainer-default")]
        lines.append(f"| {method} | {ratios(e, t)} | {ratios(e, d)} |")
    if ("full", "engine") in by and ("seq_bn", "engine") in by:
        engine = by[("seq_bn", "engine")].train_samples_per_s / by[("full", "engine")].train_samples_per_s
        tuned = by[("seq_bn", "trainer-tuned")].train_samples_per_s / by[("full", "trainer-tuned")].train_samples_per_s
        lines.append(f"\nseq_bn / full training speed, engine: {engine:.2f}x; Trainer tuned: {tuned:.2f}x")
    return "\n".join(lines)


# --- ablation: one row per speed option ------------------------------------------------------------------------

@dataclass
class AblationRow:
    method: str
    option: str                        # "defaults" or a speed option (suite.config.speed)
    train_samples_per_s: float         # warm-up steps left out (the engine's headline)
    train_samples_per_cpu_s: float | None
    eval_samples_per_s: float
    accuracy: float
    mfu_gemm: float | None             # vs the measured GEMM rate of the row's precision
    mfu: float | None                  # vs the GPU datasheet peak (CUDA only)
    gemm_tflops: float | None
    error: str | None = None


def ablation_options() -> list[tuple[str, tuple[str, ...], str]]:
    """(label, speed options, precision) per row; bf16 is cpu-bf16 on CPU and precision=bf16 on CUDA."""
    import torch

    on_cuda = torch.cuda.is_available()
    rows = [("defaults", (), "fp32"), ("eager-attention", ("eager-attention",), "fp32"),
            ("foreach-adamw", ("foreach-adamw",), "fp32"), ("loop-adamw", ("loop-adamw",), "fp32")]
    if on_cuda:
        rows.append(("bf16 (precision)", (), "bf16"))
    elif speed_opts.cpu_has_bf16():
        rows.append(("cpu-bf16", ("cpu-bf16",), "fp32"))
    rows.append(("compile", ("compile",), "fp32"))
    return rows


def ablate(*, model="minilm", glue_dir=None, train_size=2000, eval_size=None, max_length=64, epochs=1, batch_size=32,
           eval_batch_size=256, lrs=None, methods=("full", "seq_bn"), options=None, log=None) -> list[AblationRow]:
    """Each speed option alone against the engine's defaults, same data, seed and budget, in one process."""
    lrs = dict(lrs or {})
    data = "glue" if glue_dir else "synthetic"
    out = []
    for method in methods:
        base = dict(model=model, data=data, glue_dir=str(glue_dir) if glue_dir else None, train_size=train_size,
                    eval_size=eval_size, max_length=max_length, epochs=epochs, batch_size=batch_size,
                    eval_batch_size=eval_batch_size, lr=_lr(method, lrs))
        # warm-up
        run_seed(dataclasses.replace(_case(method, **base), train_size=min(train_size, 256), eval_size=256), 0)
        for label, speed, precision in options or ablation_options():
            case = _case(method, **base, speed=speed, precision=precision)
            try:
                r = run_seed(case, 0)
            except (SuiteError, RuntimeError) as exc:  # e.g. torch.compile without a working C++ toolchain
                out.append(AblationRow(method, label, 0.0, None, 0.0, float("nan"), None, None, None,
                                       error=str(exc).strip().splitlines()[0][:200]))
                continue
            row = AblationRow(method, label, r.train_samples_per_s, r.train_samples_per_cpu_s, r.eval_samples_per_s,
                              r.metrics.get("accuracy", float("nan")), r.mfu_gemm, r.mfu,
                              r.gemm_flops_per_s / 1e12 if r.gemm_flops_per_s else None,
                              error=r.error if r.status != "ok" else None)
            out.append(row)
            if log:
                log(render_ablation(out, header=False).splitlines()[-1])  # with its ratio to the defaults row
    return out


def render_ablation(rows: list[AblationRow], header: bool = True) -> str:
    lines = []
    if header:
        lines += ["| method | option | train samples/s | vs defaults | samples/CPU-s | vs defaults | eval samples/s | "
                  "MFU vs GEMM | GEMM TFLOP/s | MFU vs datasheet | accuracy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {r.method: r for r in rows if r.option == "defaults"}

    def ratio(a, b):
        return f"{a / b:.2f}x" if a and b else "-"

    for r in rows:
        if r.error:
            lines.append(f"| {r.method} | {r.option} | failed: {r.error} | | | | | | | | |")
            continue
        b = base.get(r.method)
        lines.append(
            f"| {r.method} | {r.option} | {r.train_samples_per_s:.1f} | "
            f"{ratio(r.train_samples_per_s, b.train_samples_per_s) if b else '-'} | "
            f"{r.train_samples_per_cpu_s or 0:.1f} | "
            f"{ratio(r.train_samples_per_cpu_s, b.train_samples_per_cpu_s) if b else '-'} | "
            f"{r.eval_samples_per_s:.1f} | {f'{r.mfu_gemm:.1%}' if r.mfu_gemm else '-'} | "
            f"{f'{r.gemm_tflops:.3f}' if r.gemm_tflops else '-'} | {f'{r.mfu:.1%}' if r.mfu else '-'} | "
            f"{r.accuracy:.2f} |")
    if header:
        lines.append("\nunpadded/packed batches: not implemented (BERT's SDPA path in transformers 4.57 takes padded "
                     "batches; the engine's length grouping already keeps padding small, see the padded/real token "
                     "columns of `suite perf`).")
    return "\n".join(lines)
