"""Which cases a session runs and how they are labelled: sharding, pytest markers, one GPU per xdist worker."""

from __future__ import annotations

import os
import re
import subprocess

from suite.config.methods import METHODS, Method, get_method
from suite.config.options import Options, parse_tasks
from suite.config.profiles import CaseSpec, Profile, cases
from suite.config.tasks import TASKS
from suite.errors import SuiteError
from suite.gate import verdicts as vd

SLOW_SAMPLES = 5000  # a case that trains on more samples (rows x epochs, or all rows) is marked slow


def device_for_worker(worker: str | None, visible: list[str]) -> str | None:
    """CUDA_VISIBLE_DEVICES for a pytest-xdist worker ("gw3"): one GPU each, round robin; None: leave as is."""
    if not worker or not worker.startswith("gw") or len(visible) < 2:
        return None
    return visible[int(worker[2:]) % len(visible)]


def visible_gpus() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def _marker(name: str) -> str:
    return re.sub(r"\W", "_", name.split("[", 1)[0]).strip("_") or "method"


def case_marks(case: CaseSpec) -> list[str]:
    """Markers of a case: its task, its method (base name), its family (full/adapter) and "slow" when large."""
    marks = [case.task, _marker(case.method), vd.family(case.method)]
    if case.train_size is None or case.train_size * case.epochs > SLOW_SAMPLES:
        marks.append("slow")
    return list(dict.fromkeys(marks))


def marker_docs(methods: list[Method] | None) -> dict[str, str]:
    """Every marker a session's cases can carry, with its text for ``pytest --markers``."""
    docs = {t: f"GLUE task {t}" for t in TASKS}
    docs.update({_marker(m): f"method {m}" for m in [*METHODS, *(m.name for m in methods or [])]})
    docs.update(full="full fine-tuning cases", adapter="adapter cases (any adapters config)",
                slow=f"cases that train on more than {SLOW_SAMPLES} samples")
    return docs


def shard(all_cases: list[CaseSpec], i: int, n: int) -> list[CaseSpec]:
    """The i-th of n slices, a task's cases kept together (so its full and adapter cases run on one machine and
    speed_vs_full compares like with like); tasks round robin. With fewer tasks than shards, cases round robin."""
    tasks = list(dict.fromkeys(c.task for c in all_cases))
    if len(tasks) >= n:
        mine = set(tasks[i - 1::n])
        return [c for c in all_cases if c.task in mine]
    return all_cases[i - 1::n]


def session_cases(o: Options, profile: Profile, methods: list[Method] | None) -> list[CaseSpec]:
    """The cases a session runs: the profile's (or the selected tasks and methods), each once, then its shard."""
    out = cases(profile, tasks=parse_tasks(o.tasks) if o.tasks is not None else None, methods=methods,
                seeds=o.seeds, model=o.model, glue_dir=o.glue_dir, lr_overrides=o.lr, speed=o.speed)
    out = list({(c.task, c.method): c for c in out}.values())  # "--methods full,full" / "--tasks sst2,sst2": once
    if o.shard:
        i, n = o.shard
        total = len(out)
        out = shard(out, i, n)
        if not out:
            raise SuiteError(f"--shard {i}/{n} selects none of the {total} cases; use at most {total} shards "
                             "(a shard that runs nothing would pass while comparing nothing).")
    return out


def reference_case(o: Options, profile: Profile, case: CaseSpec) -> CaseSpec:
    """Full fine-tuning of the same task, model, data and seeds as ``case``."""
    return cases(profile, tasks=[case.task], methods=[get_method("full")], seeds=case.seeds, model=o.model,
                 glue_dir=o.glue_dir, lr_overrides=o.lr, speed=o.speed)[0]
