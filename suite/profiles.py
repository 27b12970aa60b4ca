"""Profiles: named, frozen sets of defaults. A profile lists what it changes, and why.

``smoke`` (default) runs offline in minutes on 2 CPU cores; ``quick`` uses real GLUE data and is meant for a
laptop or CI with ``--glue-dir``. Every field of a profile ends up in a ``CaseSpec`` and thus in its config hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .errors import SuiteError, lookup
from .methods import Method, get_method
from .tasks import get_task


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # data
    data: str = "synthetic"                 # "synthetic" (embedded, offline) or "glue" (--glue-dir or the Hub)
    tasks: tuple[str, ...] = ("sst2", "mnli")
    train_size: Mapping[str, int | None] = field(default_factory=dict)  # per task; missing or None: all rows
    eval_size: int | None = None            # rows per evaluation split; None: the whole dev set
    max_length: int = 128                   # tokens; batches are padded to their longest member, not to this
    # model and methods
    model: str = "minilm"                   # see suite.models: minilm (embedded), tiny, a Hub id or a path
    methods: tuple[str, ...] = ("full", "seq_bn")
    # optimisation (AdamW, linear decay after warmup)
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 256              # inference only: large batches are cheap
    lr: Mapping[str, float] = field(default_factory=lambda: {"full": 5e-5, "adapter": 1e-3})  # by method family
    warmup_ratio: float = 0.06              # as in the adapter and LoRA papers' GLUE recipes
    weight_decay: float = 0.01
    seeds: tuple[int, ...] = (0,)
    # gate
    tolerance: float = 1.0                  # points (0-100 scale) a case may fall below its baseline
    task_tolerance: Mapping[str, float] = field(default_factory=dict)  # per-task overrides (noisy tasks need more)

    def __post_init__(self):
        for t in self.tasks:
            get_task(t)
        for what, tol in [("tolerance", self.tolerance), *self.task_tolerance.items()]:
            if tol < 0:
                raise SuiteError(f"Profile {self.name}: tolerance ({what}) must be >= 0 points, got {tol}.")
        missing = {"full", "adapter"} - set(self.lr)
        if missing:
            raise SuiteError(f"Profile {self.name}: lr needs a rate for {', '.join(sorted(missing))}.")


    def tolerance_for(self, task: str) -> float:
        return self.task_tolerance.get(task, self.tolerance)


@dataclass(frozen=True)
class CaseSpec:
    """Everything that determines one benchmark case (one task x method, over its seeds)."""

    profile: str
    task: str
    method: str
    adapter_config: str | None
    model: str
    data: str
    train_size: int | None
    eval_size: int | None
    max_length: int
    epochs: int
    batch_size: int
    eval_batch_size: int
    lr: float
    warmup_ratio: float
    weight_decay: float
    seeds: tuple[int, ...]
    glue_dir: str | None = field(default=None, compare=False)  # where the data is read; not part of the hash

    @property
    def key(self) -> str:
        """Baseline key within a profile's file, and the test id (with '-')."""
        return f"{self.task}/{self.method}"

    def config(self) -> dict:
        """The fields that determine the outcome (the data location is left out: the data fingerprint covers it)."""
        d = dataclasses.asdict(self)
        d.pop("glue_dir")
        d["seeds"] = list(self.seeds)
        return d

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()[:12]


_PROFILES = {
    p.name: p
    for p in (
        Profile(
            name="smoke",
            description="embedded MiniLM on synthetic SST-2/MNLI-shaped data; offline, minutes on 2 CPU cores",
            data="synthetic",
            train_size={"sst2": 600, "mnli": 900},
            eval_size=500,
            max_length=64,
            epochs=2,
            tolerance=2.0,      # 500 eval rows: one example is 0.2 points; allows small cross-CPU float drift
        ),
        Profile(
            name="quick",
            description="embedded MiniLM on real GLUE (--glue-dir or the Hub), full dev sets; a laptop or CI",
            data="glue",
            train_size={"sst2": 4000, "mnli": 8000},
            eval_size=None,
            max_length=128,
            epochs=2,
            tolerance=1.5,      # single seed on CPU; SST-2 dev has 872 rows (0.11 points each)
        ),
    )
}
PROFILES: Mapping[str, Profile] = MappingProxyType(_PROFILES)


def get_profile(name: str) -> Profile:
    return lookup("profile", name, PROFILES)


def cases(profile: Profile, *, tasks=None, methods: list[Method] | None = None, seeds=None, model=None,
          glue_dir=None, lr_overrides: Mapping[str, float] | None = None) -> list[CaseSpec]:
    """The cases of a profile, task-major, with command-line overrides applied."""
    task_names = list(tasks or profile.tasks)
    for t in task_names:
        get_task(t)
    method_list = methods or [get_method(m) for m in profile.methods]
    lrs = {**profile.lr, **(lr_overrides or {})}
    out = []
    for t in task_names:
        for m in method_list:
            out.append(CaseSpec(
                profile=profile.name, task=t, method=m.name, adapter_config=m.adapter_config,
                model=model or profile.model, data=profile.data, train_size=profile.train_size.get(t),
                eval_size=profile.eval_size, max_length=profile.max_length, epochs=profile.epochs,
                batch_size=profile.batch_size, eval_batch_size=profile.eval_batch_size,
                lr=lrs.get(m.name, lrs[m.family]), warmup_ratio=profile.warmup_ratio,
                weight_decay=profile.weight_decay, seeds=tuple(seeds or profile.seeds),
                glue_dir=str(glue_dir) if glue_dir else None,
            ))
    return out
