"""The training engine: one run is seed -> model -> method -> train -> evaluate -> RunResult.

A plain PyTorch loop rather than ``transformers.Trainer``: batches are grouped by length and padded to their
longest member (Trainer pads random batches), evaluation runs under ``inference_mode`` in large length-sorted
batches, the optimizer only sees trainable parameters, and the hot loop has no logging or host syncs beyond a
periodic finiteness check of the loss. Devices and mixed precision go through ``accelerate``.
"""

from __future__ import annotations

import functools
import resource
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from . import cache
from . import metrics as glue_metrics
from . import progress
from .data import TaskData, load_task_data
from .errors import SuiteError, shown
from .methods import get_method
from .models import load_model, load_tokenizer
from .profiles import CaseSpec
from .results import CaseResult, Params, RunResult, provenance
from .tasks import Task, get_task

MEGABATCH = 50          # length grouping window, in batches (as transformers' LengthGroupedSampler)
CHECK_EVERY = 25        # steps between finiteness checks of the loss (each check is one host sync on GPU)
PEAK_BF16_FLOPS = {     # dense bf16 tensor-core peak per GPU, for model FLOPs utilisation (MFU)
    "H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12, "4090": 165e12,
}


class NonFiniteLoss(RuntimeError):
    pass


@dataclass(frozen=True)
class Encoded:
    """Token ids of one split, unpadded, plus labels."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list  # ints, or float scores for regression (STS-B)

    def __len__(self) -> int:
        return len(self.labels)

    @functools.cached_property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]


@dataclass(frozen=True)
class PreparedData:
    task: Task
    data: TaskData
    train: Encoded
    evals: Mapping[str, Encoded]
    pad_id: int
    prepare_time_s: float = 0.0     # loading + sampling + tokenizing, or reading the disk cache
    from_cache: bool = False


def encode(ds, tokenizer, task: Task, max_length: int) -> Encoded:
    texts = [list(ds["text_a"])] + ([list(ds["text_b"])] if task.is_pair else [])
    enc = tokenizer(*texts, truncation=True, max_length=max_length)
    return Encoded(enc["input_ids"], enc.get("token_type_ids"), list(ds["label"]))


@functools.lru_cache(maxsize=4)
def prepare_data(task_name: str, data: str, glue_dir: str | None, train_size, eval_size, model: str,
                 max_length: int) -> PreparedData:
    """Load, sample and tokenize once per process for all methods and seeds of a task, and once per machine
    through the on-disk cache (``suite.cache``): a second run reads Arrow files instead of parsing and tokenizing."""
    import datasets

    t0 = time.perf_counter()
    task = get_task(task_name)
    entry = cache.key(task, data, glue_dir, train_size, eval_size, model, max_length)
    tok = load_tokenizer(model)
    cached = cache.load(entry)
    if cached is not None:
        dd, meta = cached
        loaded = TaskData(task, _text(dd["train"]), {a: _text(dd[f"eval_{a}"]) for a in meta["evals"]},
                          meta["origin"], meta["fingerprint"])
        encoded = {name: _encoded(dd[name]) for name in dd}
        return PreparedData(task, loaded, encoded["train"], {a: encoded[f"eval_{a}"] for a in meta["evals"]},
                            tok.pad_token_id or 0, time.perf_counter() - t0, True)
    loaded = load_task_data(task, data, glue_dir=glue_dir, train_size=train_size, eval_size=eval_size)
    train = encode(loaded.train, tok, task, max_length)
    evals = {a: encode(ds, tok, task, max_length) for a, ds in loaded.evals.items()}
    splits = {"train": (loaded.train, train), **{f"eval_{a}": (loaded.evals[a], e) for a, e in evals.items()}}
    dd = datasets.DatasetDict({name: _with_ids(ds, enc) for name, (ds, enc) in splits.items()})
    cache.save(entry, dd, {"evals": list(evals), "origin": loaded.origin, "fingerprint": loaded.fingerprint})
    return PreparedData(task, loaded, train, evals, tok.pad_token_id or 0, time.perf_counter() - t0, False)


def _with_ids(ds, enc: Encoded):
    cols = {c: list(ds[c]) for c in ds.column_names}
    cols["input_ids"] = enc.input_ids
    if enc.token_type_ids is not None:
        cols["token_type_ids"] = enc.token_type_ids
    import datasets

    return datasets.Dataset.from_dict(cols)


def _text(ds):
    return ds.select_columns([c for c in ("text_a", "text_b", "label") if c in ds.column_names])


def _encoded(ds) -> Encoded:
    return Encoded(list(ds["input_ids"]), list(ds["token_type_ids"]) if "token_type_ids" in ds.column_names else None,
                   list(ds["label"]))


def _prepare(case: CaseSpec) -> PreparedData:
    return prepare_data(case.task, case.data, case.glue_dir, case.train_size, case.eval_size, case.model,
                        case.max_length)


# --- batching ----------------------------------------------------------------------------------------------

def length_grouped_batches(lengths: list[int], batch_size: int, generator) -> list[list[int]]:
    """Shuffle, sort by length inside windows of MEGABATCH batches, cut into batches, shuffle the batches."""
    import torch

    perm = torch.randperm(len(lengths), generator=generator).tolist()
    window = batch_size * MEGABATCH
    batches = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start:start + window], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(enc: Encoded, idx: list[int], pad_id: int, device) -> dict:
    import torch

    width = max(enc.lengths[i] for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    types = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        n = enc.lengths[i]
        ids[row, :n] = torch.tensor(enc.input_ids[i])
        mask[row, :n] = 1
        if enc.token_type_ids is not None:
            types[row, :n] = torch.tensor(enc.token_type_ids[i])
    labels = [enc.labels[i] for i in idx]
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
             "labels": torch.tensor(labels, dtype=torch.float if isinstance(labels[0], float) else torch.long)}
    if getattr(device, "type", device) == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device) for k, v in batch.items()}


# --- parameters --------------------------------------------------------------------------------------------

def count_params(model, backbone_names: set[str]) -> Params:
    """Count by provenance: ``backbone_names`` are the encoder's parameters before the method added anything."""
    head = sum(p.numel() for n, p in model.named_parameters() if n.startswith("heads."))
    backbone = sum(p.numel() for n, p in model.named_parameters() if n in backbone_names)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Params(total=total, trainable=trainable, backbone=backbone, head=head, adapter=total - head - backbone)


def _optimizer(model, lr: float, weight_decay: float, backbone_names: set[str], backbone_lr: float | None,
               fused: bool = False):
    """AdamW over trainable parameters only; hybrids train unfrozen backbone weights at ``backbone_lr``."""
    import torch

    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue  # frozen weights get neither gradients nor optimizer state
        rate = backbone_lr if backbone_lr is not None and name in backbone_names else lr
        decay = 0.0 if p.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else weight_decay
        groups.setdefault((rate, decay), []).append(p)
    return torch.optim.AdamW([{"params": ps, "lr": r, "weight_decay": d} for (r, d), ps in groups.items()], lr=lr,
                             fused=fused or None)


def _accelerator(precision: str):
    """One Accelerator per run; accelerate keeps process-wide state, reset when the precision changes."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from accelerate.utils import DistributedDataParallelKwargs

    mixed = "bf16" if precision == "bf16" and torch.cuda.is_available() else "no"
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", mixed) != mixed:
        AcceleratorState._reset_state()
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    # under DDP some trainable weights sit outside the graph (BERT's pooler: the head reads [CLS] directly)
    return Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available(),  # cpu=True: gloo DDP under torchrun
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def peak_flops(device) -> float | None:
    import torch

    if getattr(device, "type", None) != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def train_flops_per_token(params: Params) -> float:
    """Forward 2N, backward through the whole network 2N (activation gradients reach the lowest trainable
    weight), weight gradients 2 x trainable: 6N for full fine-tuning, about 4N for an adapter."""
    n = params.total
    return 4 * n + 2 * params.trainable


def reset_cpu_peak() -> bool:
    """Reset the process's peak resident set size (Linux: writing 5 to /proc/self/clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_peak_mb() -> tuple[float, str]:
    """Peak resident memory since the last ``reset_cpu_peak`` (VmHWM); elsewhere the process-lifetime maximum."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "process_peak_rss_this_run"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_max_rss"


# --- one run -----------------------------------------------------------------------------------------------

def run_seed(case: CaseSpec, seed: int, prepared: PreparedData | None = None,
             log: Callable[[str], None] | None = None, observe: Callable[[str, object], None] | None = None,
             show_progress: bool = False) -> RunResult:
    """One seed of a case. ``observe(stage, model)`` is called at "built" (method applied) and "trained"."""
    import torch
    from transformers import get_linear_schedule_with_warmup, set_seed

    prepared = prepared or _prepare(case)
    task = prepared.task
    method = get_method(case.method)
    result = RunResult(task=case.task, method=case.method, seed=seed)

    t0 = time.perf_counter()
    reset_cpu_peak()  # so that this run reports its own peak, not the largest earlier one in the process
    set_seed(seed)  # before the model and the adapter exist: head and adapter init draw from this RNG
    model = load_model(case.model, task)
    backbone_names = {n for n, _ in model.named_parameters() if not n.startswith("heads.")}
    try:
        method.apply(model)
    except (AssertionError, ValueError, TypeError, KeyError, ZeroDivisionError) as exc:  # adapters' config checks
        raise SuiteError(f"Method '{shown(method.name)}' cannot be applied to model '{shown(case.model)}': "
                         f"{shown(str(exc).strip().splitlines()[0], 200) if str(exc).strip() else type(exc).__name__}"
                         ) from None
    result.params = count_params(model, backbone_names)
    if observe:
        observe("built", model)
    accelerator = _accelerator(case.precision)
    device = accelerator.device
    optimizer = _optimizer(model, case.lr, case.weight_decay, backbone_names, case.backbone_lr,
                           fused=device.type == "cuda")
    model, optimizer = accelerator.prepare(model, optimizer)
    generator = torch.Generator().manual_seed(seed)
    epochs_batches = [length_grouped_batches(prepared.train.lengths, case.batch_size, generator)
                      for _ in range(case.epochs)]
    world, rank = accelerator.num_processes, accelerator.process_index
    if world > 1:  # DDP: every rank draws the same batches and takes every world-th, in lockstep
        epochs_batches = [[b[i * world + rank] for i in range(len(b) // world)] for b in epochs_batches]
    total_steps = sum(len(b) for b in epochs_batches)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(case.warmup_ratio * total_steps), total_steps)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    result.setup_time_s = time.perf_counter() - t0

    # train
    bar = progress.bar(total_steps, f"{case.key} seed {seed}") if show_progress else None
    model.train()
    losses = []
    step = 0
    samples = tokens = first_batch = 0
    t_start = t_after_first = time.perf_counter()
    c_after_first = time.process_time()
    try:
        for batches in epochs_batches:
            for idx in batches:
                batch = collate(prepared.train, idx, prepared.pad_id, device)
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.detach())
                step += 1
                if step == 1:
                    if on_cuda:
                        torch.cuda.synchronize(device)
                    t_after_first = time.perf_counter()
                    c_after_first = time.process_time()
                    first_batch = len(idx)
                else:
                    samples += len(idx)
                    tokens += sum(prepared.train.lengths[i] for i in idx)  # host-side: no device sync
                if step % CHECK_EVERY == 0 or step == total_steps:
                    _check_finite(losses, step)  # syncs anyway: the bar's loss costs nothing extra
                    if bar is not None:
                        bar.set_postfix(loss=f"{float(losses[-1]):.3f}", refresh=False)
                if bar is not None:
                    bar.update(1)
    except NonFiniteLoss as exc:
        result.status, result.error = "failed", str(exc)
        return result
    except torch.OutOfMemoryError:
        result.status = "failed"
        result.error = (f"out of memory at training step {step + 1} with batch size {case.batch_size}, max length "
                        f"{case.max_length}; lower the batch size or max length in the profile")
        return result
    finally:
        if bar is not None:
            bar.close()
    if on_cuda:
        torch.cuda.synchronize(device)
    t_end = time.perf_counter()
    c_timed = time.process_time() - c_after_first
    result.steps = step
    result.train_time_s = t_end - t_start
    timed = t_end - t_after_first
    if samples and timed > 0:  # the headline leaves the first (warm-up) step out
        rate, token_rate = samples / timed, tokens / timed
    else:  # a one-step run has nothing but the warm-up step
        rate, token_rate = first_batch / max(result.train_time_s, 1e-9), 0.0
    result.train_samples_per_s, result.train_tokens_per_s = world * rate, world * token_rate  # all ranks
    if samples and c_timed > 0:  # per CPU-second of this process: what a busy machine's other load moves least
        result.train_samples_per_cpu_s = samples / c_timed
    peak = peak_flops(device)
    if peak and result.train_tokens_per_s:
        result.mfu = result.train_tokens_per_s * train_flops_per_token(result.params) / peak
    tail = losses[-max(1, len(losses) // 10):]
    result.final_loss = float(torch.stack(tail).float().mean())
    if observe:
        observe("trained", accelerator.unwrap_model(model))

    # evaluate
    model.eval()
    n_eval = 0
    forward_s = 0.0  # the model's work only: metric computation (and loading the metric module) is not timed
    with torch.inference_mode():
        for split in task.eval_splits:
            enc = prepared.evals[split.alias]
            preds = [0] * len(enc)
            t_eval = time.perf_counter()
            for idx in sorted_batches(enc.lengths, case.eval_batch_size):
                batch = collate(enc, idx, prepared.pad_id, device)
                batch.pop("labels")
                logits = model(**batch).logits
                out = logits.squeeze(-1).float() if task.is_regression else logits.argmax(-1)
                for i, p in zip(idx, out.tolist()):
                    preds[i] = p
            forward_s += time.perf_counter() - t_eval
            n_eval += len(enc)
            for name, value in glue_metrics.compute(task.name, preds, enc.labels).items():
                result.metrics[task.metric_key(name, split)] = value
    result.eval_time_s = forward_s
    result.eval_samples_per_s = n_eval / forward_s if forward_s > 0 else 0.0
    if on_cuda:
        result.peak_mem_mb, result.peak_mem_kind = torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    else:
        result.peak_mem_mb, result.peak_mem_kind = cpu_peak_mb()
    if log:
        log(f"{case.key} seed {seed}: {task.primary_key}={result.metrics[task.primary_key]:.2f} "
            f"train {result.train_samples_per_s:.0f}/s eval {result.eval_samples_per_s:.0f}/s "
            f"({result.setup_time_s + result.train_time_s + result.eval_time_s:.0f} s)")
    return result


def _check_finite(losses, step: int) -> None:
    import torch

    window = torch.stack(losses[-CHECK_EVERY:])
    bad = ~torch.isfinite(window)
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        at = step - len(window) + first + 1
        raise NonFiniteLoss(f"training loss became {float(window[first])} at step {at}; lower the learning rate "
                            "or check the data")


def run_case(case: CaseSpec, log: Callable[[str], None] | None = None, show_progress: bool = False) -> CaseResult:
    """All seeds of one case. User mistakes raise SuiteError; training faults become a failed run."""
    if not case.seeds:
        raise SuiteError("No seeds to run: pass --seeds with at least one integer, e.g. --seeds 0,1,2.")
    t0 = time.perf_counter()
    prepared = _prepare(case)
    prepare_s = time.perf_counter() - t0  # ~0 when this process already prepared the task
    runs = [run_seed(case, seed, prepared, log, show_progress=show_progress) for seed in case.seeds]
    task = prepared.task
    floor = {task.metric_key(name, split): round(value, 4) for split in task.eval_splits
             for name, value in glue_metrics.trivial_scores(task, prepared.evals[split.alias].labels).items()}
    return CaseResult(key=case.key, task=case.task, method=case.method, profile=case.profile,
                      primary_metric=prepared.task.primary_key, config=case.config(), config_hash=case.config_hash,
                      runs=runs, data_fingerprint=prepared.data.fingerprint, data_origin=prepared.data.origin,
                      provenance=provenance(), prepare_time_s=prepare_s,
                      data_cache="hit" if prepared.from_cache else "miss", floor=floor)
