"""Results: one ``RunResult`` per seed, one ``CaseResult`` per task x method (aggregated over seeds).

Plain dataclasses that round-trip through JSON (never pickle). Quality metrics are in points (0-100).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from suite.config.paths import ROOT as root

RESULTS_SCHEMA = 1


def case_key(task: str, method: str, model) -> str:
    """A case's identity everywhere (results, verdicts, baselines, history, reports): ``task/method@model``, the
    method as named (an adapters config string included)."""
    return f"{task}/{method}@{model}"


@dataclass
class Params:
    total: int             # every parameter of the model (backbone + adapter + head)
    trainable: int         # requires_grad, head included
    backbone: int          # the pretrained encoder without adapter modules
    head: int              # the classification head (trainable for every method)
    adapter: int           # parameters the method added (0 for full fine-tuning)

    @property
    def trainable_pct(self) -> float:
        """Trainable parameters outside the head, as a percentage of the backbone (the convention of the papers)."""
        return 100.0 * (self.trainable - self.head) / self.backbone if self.backbone else 0.0


@dataclass
class RunResult:
    """One training + evaluation run: one task, one method, one seed."""

    task: str
    method: str
    seed: int
    status: str = "ok"                                    # "ok" or "failed"
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)   # e.g. {"accuracy": 91.2} or accuracy_m/_mm
    train_samples_per_s: float = 0.0                     # first step (warmup) excluded
    train_tokens_per_s: float = 0.0                      # non-padding tokens
    train_samples_per_cpu_s: float | None = None         # per second of process CPU time: robust on a busy machine
    eval_samples_per_s: float = 0.0                      # forward passes only (metric computation not timed)
    train_time_s: float = 0.0
    train_cpu_time_s: float | None = None                # process CPU time of the whole training loop
    eval_time_s: float = 0.0
    setup_time_s: float = 0.0                            # model load + method setup
    steps: int = 0
    final_loss: float | None = None                      # mean training loss over the last 10% of steps
    peak_mem_mb: float = 0.0
    peak_mem_kind: str = ""                               # "cuda_max_allocated" or "process_max_rss"
    params: Params | None = None
    mfu: float | None = None                             # model FLOPs utilisation vs the GPU datasheet peak (CUDA)
    mfu_gemm: float | None = None                        # ... vs the measured GEMM rate at the model's shapes
    gemm_flops_per_s: float | None = None                # that measured rate (suite.engine.flops.gemm_rate)
    # training FLOPs per real token (suite.engine.flops.model_flops)
    flops_per_token: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> RunResult:
        d = dict(d)
        if d.get("params") is not None:
            d["params"] = Params(**d["params"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Stat:
    mean: float
    sd: float
    n: int
    values: list[float]

    @classmethod
    def of(cls, values) -> Stat:
        values = [float(v) for v in values]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(mean=statistics.fmean(values) if values else math.nan, sd=sd, n=len(values), values=values)


@dataclass
class CaseResult:
    """A task x method case over its seeds, with the spec that produced it and where it ran."""

    key: str                                   # "task/method@model" (case_key); "task/method" in older files
    task: str
    method: str
    profile: str
    primary_metric: str                        # metric key the gate uses
    config: dict                               # CaseSpec.config(): everything that determined the runs
    config_hash: str
    runs: list[RunResult]
    data_fingerprint: str = ""
    data_origin: str = ""
    provenance: dict = field(default_factory=dict)
    prepare_time_s: float = 0.0                # data loading + tokenizing for this case (0 if done earlier in-process)
    data_cache: str = ""                       # "hit": tokenized data read from the on-disk cache
    floor: dict = field(default_factory=dict)  # metric key -> best score of a constant predictor on the same dev data
    schema: int = RESULTS_SCHEMA

    def __post_init__(self):
        # One identity for a case, as baselines key it: results files written before the model was part of the key
        # ("task/method") get the model from their config, so that two models' results never share a key.
        model = self.config.get("model") if isinstance(self.config, dict) else None
        if model is not None and self.key == f"{self.task}/{self.method}":
            self.key = case_key(self.task, self.method, model)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.status == "ok" for r in self.runs)

    @property
    def error(self) -> str | None:
        return next((f"seed {r.seed}: {r.error}" for r in self.runs if r.status != "ok"), None)

    def metric(self, key: str | None = None) -> Stat:
        key = key or self.primary_metric
        return Stat.of(r.metrics[key] for r in self.runs
                       if r.status == "ok" and isinstance(r.metrics.get(key), (int, float)))

    def mean_of(self, attr: str) -> float:
        vals = [getattr(r, attr) for r in self.runs if r.status == "ok"]
        return statistics.fmean(vals) if vals else 0.0

    def paired_diffs(self, reference: CaseResult) -> list[float]:
        """Per seed, this case's primary metric minus the reference's, for the seeds both ran successfully."""
        a = {r.seed: r.metrics.get(self.primary_metric) for r in self.runs if r.status == "ok"}
        b = {r.seed: r.metrics.get(reference.primary_metric) for r in reference.runs if r.status == "ok"}
        return [a[s] - b[s] for s in sorted(a) if s in b and a[s] is not None and b[s] is not None]

    @property
    def params(self) -> Params | None:
        return next((r.params for r in self.runs if r.params is not None), None)

    def summary(self) -> dict:
        """Flat figures for pytest-benchmark's extra_info and JUnit properties."""
        out = {"task": self.task, "method": self.method, "profile": self.profile, "config_hash": self.config_hash,
               "status": "ok" if self.ok else "failed"}
        metric_keys = sorted({k for r in self.runs for k in r.metrics})
        for k in metric_keys:
            s = self.metric(k)
            out[k] = round(s.mean, 4)
            out[f"{k}_sd"] = round(s.sd, 4)
        out["seeds"] = [r.seed for r in self.runs]
        out["prepare_time_s"] = round(self.prepare_time_s, 3)
        if self.runs:
            out["time_to_first_step_s"] = round(self.prepare_time_s + self.runs[0].setup_time_s, 3)
        for attr in ("train_samples_per_s", "eval_samples_per_s", "train_tokens_per_s", "peak_mem_mb"):
            out[attr] = round(self.mean_of(attr), 2)
        cpu = [r.train_samples_per_cpu_s for r in self.runs if r.status == "ok" and r.train_samples_per_cpu_s]
        if cpu:
            out["train_samples_per_cpu_s"] = round(statistics.fmean(cpu), 2)
        for attr in ("mfu", "mfu_gemm"):
            values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
            if values:
                out[attr] = round(statistics.fmean(values), 4)
        if self.params:
            out.update(trainable_params=self.params.trainable, total_params=self.params.total,
                       head_params=self.params.head, trainable_pct=round(self.params.trainable_pct, 4))
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CaseResult:
        d = dict(d)
        d["runs"] = [RunResult.from_dict(r) for r in d.get("runs", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# --- provenance --------------------------------------------------------------------------------------------

# The releases a run records, a history marks, a verdict names as suspects and diagnose's run cache keys on.
RELEASE_PACKAGES = ("torch", "transformers", "adapters", "datasets", "evaluate", "accelerate", "python")


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in (p for p in RELEASE_PACKAGES if p != "python"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


@functools.lru_cache(maxsize=1)
def hardware() -> dict:
    """What the run ran on; ``fingerprint`` is the key throughput figures are stored under."""
    import torch

    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        name = torch.cuda.get_device_name(0)
        return {"device": "cuda", "name": name, "count": n, "fingerprint": f"cuda:{name} x{n}"}
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"device": "cpu", "name": name, "count": n, "threads": torch.get_num_threads(),
            "fingerprint": f"cpu:{name} x{n}"}


@functools.lru_cache(maxsize=1)
def git_state() -> dict:
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5)
        commit = proc.stdout.strip() if proc.returncode == 0 else ""
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": dirty if commit else None}


def provenance() -> dict:
    return {"versions": package_versions(), "hardware": hardware(), "git": git_state(),
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}
