"""Shared helpers for the unit tests: tiny, fast cases, the project's paths, and pytest in a subprocess.

Results, baseline entries and results files made without training are in factories.py."""

from __future__ import annotations

import dataclasses
import json
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


def run_pytest(*args, timeout=600, reuse_runs=False, env=None):
    """``pytest benchmarks ARGS`` in a subprocess from the project root (offline): (exit status, stdout + stderr).

    ``reuse_runs``: a case another subprocess of this test session already trained (same run identity) is read back,
    not retrained (tests/reuse_runs.py); for tests about what happens around the runs, not the training itself."""
    env = {**clean_env(), "HF_HUB_OFFLINE": "1", **(env or {})}
    plugins = ["-p", "tests.reuse_runs"] if reuse_runs else []
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", *plugins, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout + proc.stderr


# Run by run_pytest_many in its subprocess: each case through pytest.main, its output caught at the file-descriptor
# level (everything the case writes, by pytest, the plugin or a library), then all results as JSON on the real stdout.
_MANY = r"""
import json, os, sys, tempfile, traceback
import pytest

cases, results = json.loads(sys.stdin.read()), {}
real_out, real_err = os.dup(1), os.dup(2)
for name, argv in cases.items():
    with tempfile.TemporaryFile() as f:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(f.fileno(), 1); os.dup2(f.fileno(), 2)
        try:
            code = int(pytest.main(["benchmarks", "-p", "no:cacheprovider", *argv]))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc(); code = 99
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(real_out, 1); os.dup2(real_err, 2)
        f.seek(0)
        results[name] = [code, f.read().decode("utf-8", "replace")]
os.write(real_out, json.dumps(results).encode())
"""


def run_pytest_many(cases: dict[str, list[str]], timeout=900) -> dict[str, tuple[int, str]]:
    """``pytest benchmarks ARGV`` for each named argv, one after another in ONE subprocess (pytest.main), each with
    its whole output: {name: (exit status, stdout + stderr)}. For the many checks of a mistake that must end in one
    line before any training: one Python start-up (torch, transformers) instead of one per case."""
    env = {**clean_env(), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", _MANY], input=json.dumps(cases), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {name: (code, out) for name, (code, out) in json.loads(proc.stdout).items()}
