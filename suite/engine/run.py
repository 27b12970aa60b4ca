"""The training engine: one run is seed -> model -> method -> train -> evaluate -> RunResult.

A plain PyTorch loop rather than ``transformers.Trainer``: batches are grouped by length and padded to their
longest member (Trainer pads random batches), evaluation runs under ``inference_mode`` in large length-sorted
batches, the optimizer only sees trainable parameters, and the hot loop has no logging or host syncs beyond a
periodic finiteness check of the loss. Devices and mixed precision go through ``accelerate``.
"""

from __future__ import annotations

import functools
import logging
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from suite.config import speed
from suite.config.methods import get_method
from suite.config.models import load_model, load_tokenizer
from suite.config.profiles import CaseSpec
from suite.config.tasks import Task, get_task
from suite.data import metrics as glue_metrics
from suite.data import token_cache as cache
from suite.data.sources import TaskData, load_task_data
from suite.engine import flops, progress
from suite.engine.results import CaseResult, Params, RunResult, provenance
from suite.errors import SuiteError, shown

MEGABATCH = 50          # length grouping window, in batches (as transformers' LengthGroupedSampler)
CHECK_EVERY = 25        # steps between finiteness checks of the loss (each check is one host sync on GPU)


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
    through the on-disk cache (``suite.data.token_cache``): a second run reads Arrow files instead of parsing and
    tokenizing."""
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


def prepare_case(case: CaseSpec) -> PreparedData:
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
               **kernel):
    """AdamW over trainable parameters only; hybrids train unfrozen backbone weights at ``backbone_lr``."""
    import torch

    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue  # frozen weights get neither gradients nor optimizer state
        rate = backbone_lr if backbone_lr is not None and name in backbone_names else lr
        decay = 0.0 if p.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else weight_decay
        groups.setdefault((rate, decay), []).append(p)
    # kernel: fused= or foreach= (suite.config.speed.adamw_kwargs); none: torch's default for the device
    return torch.optim.AdamW([{"params": ps, "lr": r, "weight_decay": d} for (r, d), ps in groups.items()], lr=lr,
                             **kernel)


def _accelerator(bf16: bool):
    """One Accelerator per run; accelerate keeps process-wide state, reset when the precision changes. ``bf16``:
    autocast around the model's forward (CUDA, or a CPU with native bf16: ``suite.config.speed``)."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    mixed = "bf16" if bf16 else "no"
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", mixed) != mixed:
        AcceleratorState._reset_state()
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    # under DDP some trainable weights sit outside the graph (BERT's pooler: the head reads [CLS] directly)
    return Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available(),  # cpu=True: gloo DDP under torchrun
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


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


# --- one run: build -> train -> measure -> evaluate ---------------------------------------------------------

@dataclass
class _Run:
    """The state one run passes from build to train, measure and evaluate."""

    case: CaseSpec
    seed: int
    prepared: PreparedData
    result: RunResult
    model: object             # what the optimizer updates (accelerate-prepared; DDP-wrapped under torchrun)
    forward: Callable         # what the loops call: the model, or its torch.compile'd forward
    optimizer: object
    scheduler: object
    accelerator: object
    epochs_batches: list
    bf16: bool                # autocast in bf16 (CUDA precision=bf16, or the cpu-bf16 speed option)

    @property
    def device(self):
        return self.accelerator.device

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"


@dataclass
class _Timing:
    steps: int = 0
    samples: int = 0           # after the warm-up steps
    tokens: int = 0            # real (non-padding) tokens after the warm-up steps
    padded_tokens: int = 0
    warmup_samples: int = 0
    wall_s: float = 0.0        # the whole loop
    timed_wall_s: float = 0.0  # after the warm-up steps
    timed_cpu_s: float = 0.0   # process CPU time after the warm-up steps
    cpu_s: float = 0.0         # process CPU time of the whole loop
    losses: list = field(default_factory=list)


def build(case: CaseSpec, seed: int, prepared: PreparedData, result: RunResult,
          observe: Callable[[str, object], None] | None = None) -> _Run:
    """Model, method, optimizer, schedule and every epoch's batches. Speed options land here (attention,
    optimizer, compile) and in the accelerator (bf16 autocast)."""
    import torch
    from transformers import get_linear_schedule_with_warmup, set_seed

    method = get_method(case.method)
    reset_cpu_peak()  # so that this run reports its own peak, not the largest earlier one in the process
    set_seed(seed)  # before the model and the adapter exist: head and adapter init draw from this RNG
    model = load_model(case.model, prepared.task, attention=speed.attention(case.speed), pooling=case.pooling)
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
    on_cuda = torch.cuda.is_available()
    bf16 = speed.autocast_bf16(case.speed, case.precision, on_cuda)
    accelerator = _accelerator(bf16)
    optimizer = _optimizer(model, case.lr, case.weight_decay, backbone_names, case.backbone_lr,
                           **speed.adamw_kwargs(case.speed, accelerator.device.type == "cuda"))
    model, optimizer = accelerator.prepare(model, optimizer)
    forward = torch.compile(model, dynamic=True) if "compile" in case.speed else model
    generator = torch.Generator().manual_seed(seed)
    epochs_batches = [length_grouped_batches(prepared.train.lengths, case.batch_size, generator)
                      for _ in range(case.epochs)]
    world, rank = accelerator.num_processes, accelerator.process_index
    if world > 1:  # DDP: every rank draws the same batches and takes every world-th, in lockstep
        epochs_batches = [[b[i * world + rank] for i in range(len(b) // world)] for b in epochs_batches]
    total_steps = sum(len(b) for b in epochs_batches)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(case.warmup_ratio * total_steps), total_steps)
    if accelerator.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(accelerator.device)
    return _Run(case, seed, prepared, result, model, forward, optimizer, scheduler, accelerator, epochs_batches, bf16)


def train(run: _Run, timing: _Timing, show_progress: bool = False) -> None:
    """The timed loop. No logging or host syncs beyond a periodic finiteness check of the loss; raises
    NonFiniteLoss, and torch.OutOfMemoryError for the caller to turn into a failed run."""
    import torch

    case, train_data = run.case, run.prepared.train
    total_steps = sum(len(b) for b in run.epochs_batches)
    warmup = min(speed.warmup_steps(case.speed), max(total_steps - 1, 1))
    bar = progress.bar(total_steps, f"{case.key} seed {run.seed}") if show_progress else None
    losses = timing.losses
    run.model.train()
    t_start = t_timed = time.perf_counter()
    c_start = c_timed = time.process_time()
    try:
        for batches in run.epochs_batches:
            for idx in batches:
                batch = collate(train_data, idx, run.prepared.pad_id, run.device)
                loss = run.forward(**batch).loss
                run.accelerator.backward(loss)
                run.optimizer.step()
                run.scheduler.step()
                run.optimizer.zero_grad(set_to_none=True)
                losses.append(loss.detach())
                timing.steps += 1
                if timing.steps <= warmup:
                    timing.warmup_samples += len(idx)
                    if timing.steps == warmup:
                        if run.on_cuda:
                            torch.cuda.synchronize(run.device)
                        t_timed, c_timed = time.perf_counter(), time.process_time()
                else:  # host-side counts: no device sync
                    timing.samples += len(idx)
                    timing.tokens += sum(train_data.lengths[i] for i in idx)
                    timing.padded_tokens += max(train_data.lengths[i] for i in idx) * len(idx)
                if timing.steps % CHECK_EVERY == 0 or timing.steps == total_steps:
                    _check_finite(losses, timing.steps)  # syncs anyway: the bar's loss costs nothing extra
                    if bar is not None:
                        bar.set_postfix(loss=f"{float(losses[-1]):.3f}", refresh=False)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if run.on_cuda:
        torch.cuda.synchronize(run.device)
    t_end = time.perf_counter()
    timing.wall_s, timing.timed_wall_s = t_end - t_start, t_end - t_timed
    timing.timed_cpu_s, timing.cpu_s = time.process_time() - c_timed, time.process_time() - c_start


def measure(run: _Run, timing: _Timing) -> None:
    """Throughput (wall and per CPU-second), FLOPs per token and utilisation against the measured GEMM rate and,
    on CUDA, the datasheet peak of the run's precision (``suite.engine.flops``)."""
    import torch

    result, world = run.result, run.accelerator.num_processes
    result.steps, result.train_time_s, result.train_cpu_time_s = timing.steps, timing.wall_s, timing.cpu_s
    if timing.samples and timing.timed_wall_s > 0:  # the headline leaves the warm-up steps out
        rate, token_rate = timing.samples / timing.timed_wall_s, timing.tokens / timing.timed_wall_s
    else:  # a run with nothing but warm-up steps
        rate, token_rate = timing.warmup_samples / max(timing.wall_s, 1e-9), 0.0
    result.train_samples_per_s, result.train_tokens_per_s = world * rate, world * token_rate  # all ranks
    if timing.samples and timing.timed_cpu_s > 0:  # per CPU-second of this process: what other load moves least
        result.train_samples_per_cpu_s = timing.samples / timing.timed_cpu_s
    tail = timing.losses[-max(1, len(timing.losses) // 10):]
    result.final_loss = float(torch.stack(tail).float().mean())
    if timing.tokens and token_rate:
        try:
            _utilisation(run, timing)
        except Exception as exc:  # an architecture the FLOPs count does not know must not lose a finished run
            result.mfu = result.mfu_gemm = result.gemm_flops_per_s = result.flops_per_token = None
            logging.getLogger(__name__).warning("no FLOPs figures for %s: %s", run.case.key, exc)


def _utilisation(run: _Run, timing: _Timing) -> None:
    result, world = run.result, run.accelerator.num_processes
    lengths = [run.prepared.train.lengths[i] for b in run.epochs_batches for idx in b for i in idx]
    model = run.accelerator.unwrap_model(run.model)
    counted = flops.model_flops(model, flops.effective_seq_len(lengths))
    if not counted.per_token:
        return
    result.flops_per_token = counted.per_token
    achieved = result.train_tokens_per_s * counted.per_token
    precision = "bf16" if run.bf16 else ("tf32" if run.on_cuda else "fp32")
    width = timing.padded_tokens / max(timing.samples, 1)  # mean padded batch width: the GEMMs' row count per sample
    cfg = model.config
    gemm = flops.gemm_rate(run.device, "bf16" if run.bf16 else "fp32", run.case.batch_size * width,
                           cfg.hidden_size, getattr(cfg, "intermediate_size", None) or 4 * cfg.hidden_size)
    result.gemm_flops_per_s = gemm * world
    result.mfu_gemm = achieved / result.gemm_flops_per_s
    peak = flops.datasheet_peak(run.device, precision)
    if peak:
        result.mfu = achieved / (peak * world)


def evaluate(run: _Run) -> None:
    """Predictions on every dev split in large length-sorted batches; only the forward passes are timed (metric
    computation, and loading the metric module, are not)."""
    import torch

    case, task, result = run.case, run.prepared.task, run.result
    run.model.eval()
    n_eval = 0
    forward_s = 0.0
    with torch.inference_mode():
        for split in task.eval_splits:
            enc = run.prepared.evals[split.alias]
            preds = [0] * len(enc)
            t_eval = time.perf_counter()
            for idx in sorted_batches(enc.lengths, case.eval_batch_size):
                batch = collate(enc, idx, run.prepared.pad_id, run.device)
                batch.pop("labels")
                logits = run.forward(**batch).logits
                out = logits.squeeze(-1).float() if task.is_regression else logits.argmax(-1)
                for i, p in zip(idx, out.tolist()):
                    preds[i] = p
            forward_s += time.perf_counter() - t_eval
            n_eval += len(enc)
            for name, value in glue_metrics.compute(task.name, preds, enc.labels).items():
                result.metrics[task.metric_key(name, split)] = value
    result.eval_time_s = forward_s
    result.eval_samples_per_s = n_eval / forward_s if forward_s > 0 else 0.0


def run_seed(case: CaseSpec, seed: int, prepared: PreparedData | None = None,
             log: Callable[[str], None] | None = None, observe: Callable[[str, object], None] | None = None,
             show_progress: bool = False) -> RunResult:
    """One seed of a case: build, train, measure, evaluate. ``observe(stage, model)`` is called at "built" (method
    applied) and "trained"."""
    import torch

    prepared = prepared or prepare_case(case)
    result = RunResult(task=case.task, method=case.method, seed=seed)
    t0 = time.perf_counter()
    run = build(case, seed, prepared, result, observe)
    result.setup_time_s = time.perf_counter() - t0
    timing = _Timing()
    try:
        train(run, timing, show_progress)
    except NonFiniteLoss as exc:
        result.status, result.error = "failed", str(exc)
        return result
    except torch.OutOfMemoryError:
        result.status = "failed"
        result.error = (f"out of memory at training step {timing.steps + 1} with batch size {case.batch_size}, "
                        f"max length {case.max_length}; lower the batch size or max length in the profile")
        return result
    measure(run, timing)
    if observe:
        observe("trained", run.accelerator.unwrap_model(run.model))
    evaluate(run)
    if run.on_cuda:
        result.peak_mem_mb, result.peak_mem_kind = (torch.cuda.max_memory_allocated(run.device) / 2**20,
                                                    "cuda_max_allocated")
    else:
        result.peak_mem_mb, result.peak_mem_kind = cpu_peak_mb()
    if log:
        log(f"{case.key} seed {seed}: {prepared.task.primary_key}={result.metrics[prepared.task.primary_key]:.2f} "
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
    prepared = prepare_case(case)
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
