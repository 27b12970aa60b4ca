"""Engine vs Hugging Face Trainer: the same model, data, batch size, max length, epochs and learning rate, side by
side in one process. ``python -m suite perf`` prints train and eval samples/s, real and padded tokens/s and the
ratios for full fine-tuning (``Trainer``) and seq_bn (``adapters.AdapterTrainer``). A benchmark that prints
numbers; no timed assertions anywhere.

Trainer runs twice, so that the engine is compared with the peer at its best and not only at its defaults:
``trainer-default`` is what ``run_glue.py`` users get (random batches, gradient clipping at norm 1.0) and
``trainer-tuned`` is Trainer configured well on this hardware: ``group_by_length=True`` (batches of similar
length: far less padding) and no gradient clipping, like the engine. With ``group_by_length=True``,
transformers 4.57 length-groups the evaluation set too, so ``predict()`` returns predictions in another order:
they are scored against the ``label_ids`` of the same output, never against the dataset's labels.

Both sides are timed the same way: samples divided by the wall time of the whole training call (first step
included) and of the whole prediction call, after one untimed warm-up run of each side so that first-call costs
(allocator growth, kernel selection) are not charged to whichever runs first.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass

from .engine import encode, prepare_data, run_seed
from .methods import get_method
from .metrics import compute
from .models import load_model, load_tokenizer
from .profiles import CaseSpec


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


def _case(method: str, *, model, data, glue_dir, train_size, eval_size, max_length, epochs, batch_size,
          eval_batch_size, lr) -> CaseSpec:
    m = get_method(method)
    return CaseSpec(profile="perf", task="sst2", method=m.name, adapter_config=m.adapter_config, model=model, data=data,
                    train_size=train_size, eval_size=eval_size, max_length=max_length, epochs=epochs,
                    batch_size=batch_size, eval_batch_size=eval_batch_size, lr=lr, warmup_ratio=0.06,
                    weight_decay=0.01, seeds=(0,), glue_dir=glue_dir)


def engine_side(case: CaseSpec) -> PerfRow:
    import torch

    from .engine import length_grouped_batches

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
                   real / r.train_time_s, padded / r.train_time_s)


def _prepared(case: CaseSpec):
    return prepare_data(case.task, case.data, case.glue_dir, case.train_size, case.eval_size, case.model, case.max_length)


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
    from transformers import Trainer, TrainingArguments, set_seed

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
    model = load_model(case.model, task)
    method = get_method(case.method)
    method.apply(model)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=case.batch_size, per_device_eval_batch_size=case.eval_batch_size,
            num_train_epochs=case.epochs, learning_rate=case.lr, warmup_ratio=case.warmup_ratio,
            weight_decay=case.weight_decay, lr_scheduler_type="linear", logging_strategy="no", save_strategy="no",
            eval_strategy="no", report_to=[], seed=0, disable_tqdm=True, label_names=["labels"],
            remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
            **TRAINER_SIDES[side])
        cls = Trainer if method.adapter_config is None else AdapterTrainer
        collator = _CountingCollator(tok)
        trainer = cls(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, data_collator=collator)
        t = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t
        collator.counting = False
        t = time.perf_counter()
        pred = trainer.predict(eval_ds)
        eval_s = time.perf_counter() - t
    preds = np.asarray(pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions).argmax(-1)
    labels = np.asarray(pred.label_ids)  # the order predict() returned (length-grouped when group_by_length is on)
    acc = compute("sst2", preds.tolist(), labels.tolist())["accuracy"]
    return PerfRow(case.method, side, len(train_ds) * case.epochs / train_s, len(eval_ds) / eval_s, acc,
                   collator.real / train_s, collator.padded / train_s)


def compare(*, model="minilm", glue_dir=None, train_size=2000, eval_size=None, max_length=64, epochs=1,
            batch_size=32, eval_batch_size=256, lrs=None, methods=("full", "seq_bn"), warmup=True) -> list[PerfRow]:
    lrs = {"full": 5e-5, "seq_bn": 1e-3, **(lrs or {})}
    data = "glue" if glue_dir else "synthetic"
    rows = []
    for method in methods:
        case = _case(method, model=model, data=data, glue_dir=str(glue_dir) if glue_dir else None,
                     train_size=train_size, eval_size=eval_size, max_length=max_length, epochs=epochs,
                     batch_size=batch_size, eval_batch_size=eval_batch_size, lr=lrs[method])
        if warmup:
            small = dataclasses.replace(case, train_size=min(train_size, 256), eval_size=256)
            engine_side(small)
            trainer_side(small)
        rows += [engine_side(case), *(trainer_side(case, side) for side in TRAINER_SIDES)]
    return rows


def render(rows: list[PerfRow]) -> str:
    by = {(r.method, r.side): r for r in rows}
    lines = ["| method | side | train samples/s | real tokens/s | padded tokens/s | eval samples/s | accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.method} | {r.side} | {r.train_samples_per_s:.1f} | {r.real_tokens_per_s:.0f} | "
                     f"{r.padded_tokens_per_s:.0f} | {r.eval_samples_per_s:.1f} | {r.accuracy:.2f} |")
    lines += ["", "| method | engine / Trainer tuned: train, eval | engine / Trainer as run_glue: train, eval |",
              "|---|---|---|"]
    for method in dict.fromkeys(r.method for r in rows):
        e, t, d = by[(method, "engine")], by[(method, "trainer-tuned")], by[(method, "trainer-default")]
        lines.append(f"| {method} | {e.train_samples_per_s / t.train_samples_per_s:.2f}x, "
                     f"{e.eval_samples_per_s / t.eval_samples_per_s:.2f}x | "
                     f"{e.train_samples_per_s / d.train_samples_per_s:.2f}x, "
                     f"{e.eval_samples_per_s / d.eval_samples_per_s:.2f}x |")
    if ("full", "engine") in by and ("seq_bn", "engine") in by:
        lines.append(f"\nseq_bn / full training speed, engine: "
                     f"{by[('seq_bn', 'engine')].train_samples_per_s / by[('full', 'engine')].train_samples_per_s:.2f}x; "
                     f"Trainer tuned: {by[('seq_bn', 'trainer-tuned')].train_samples_per_s / by[('full', 'trainer-tuned')].train_samples_per_s:.2f}x")
    return "\n".join(lines)
