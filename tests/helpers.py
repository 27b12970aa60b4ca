"""Shared helpers for the unit tests: tiny, fast cases, the project's paths, and pytest in a subprocess.

Results, baseline entries and results files made without training are in factories.py."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from suite.config.methods import get_method
from suite.config.profiles import CaseSpec

ROOT = Path(__file__).resolve().parent.parent
GLUE_DATA = ROOT.parent / "shared" / "data" / "glue_data"


def tiny_case(task: str = "sst2", method: str = "seq_bn", **changes) -> CaseSpec:
    m = get_method(method)
    spec = CaseSpec(profile="unit", task=task, method=m.name, adapter_config=m.adapter_config, model="tiny",
                    data="synthetic", train_size=64, eval_size=48, max_length=32, epochs=1, batch_size=16,
                    eval_batch_size=64, lr=1e-3, warmup_ratio=0.06, weight_decay=0.01, seeds=(0,))
    return dataclasses.replace(spec, **changes)


def clean_env() -> dict:
    """The environment for a pytest subprocess, without this run's pytest/xdist worker variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTEST_XDIST"))}


def run_pytest(*args, timeout=600, reuse_runs=False):
    """``pytest benchmarks ARGS`` in a subprocess from the project root (offline): (exit status, stdout + stderr).

    ``reuse_runs``: a case another subprocess of this test session already trained (same run identity) is read back,
    not retrained (tests/reuse_runs.py); for tests about what happens around the runs, not the training itself."""
    env = {**clean_env(), "HF_HUB_OFFLINE": "1"}
    plugins = ["-p", "tests.reuse_runs"] if reuse_runs else []
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", *plugins, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout + proc.stderr
