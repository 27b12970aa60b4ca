"""Results, baseline entries and results files for the unit tests, made without training.

Every test module that needs a CaseResult, a baseline entry or a results file takes it from here (tiny cases,
paths and the subprocess helpers are in helpers.py); no test module imports another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
from helpers import tiny_case

from suite.engine.results import CaseResult, Params, RunResult
from suite.gate import baselines as bl
from suite.gate import calibration as cal
from suite.gate import verdicts as vd
from suite.gate.verdicts import Verdict
from suite.store import history as hi
from suite.store import results_files

# --- gate: one sst2 case with chosen values and provenance --------------------------------------------------

KEY = "sst2/seq_bn@tiny"  # the baseline key of make_result()


def make_result(values=(80.0,), key_method="seq_bn", status="ok", lr=1e-3, fingerprint="fp1", torch="2.13.0+cpu",
                adapters="1.3.0", floor=50.0, seeds=None):
    """sst2 on the tiny model, one run per value (seeds 0..n-1 unless given), with versions and hardware."""
    seeds = tuple(seeds if seeds is not None else range(len(values)))
    case = tiny_case(method=key_method, lr=lr, seeds=seeds)
    runs = [RunResult(task="sst2", method=key_method, seed=s, status=status, metrics={"accuracy": v},
                      error=None if status == "ok" else "training loss became nan at step 3")
            for s, v in zip(seeds, values)]
    return CaseResult(key=case.key, task="sst2", method=key_method, profile="unit", primary_metric="accuracy",
                      config=case.config(), config_hash=case.config_hash, runs=runs, data_fingerprint=fingerprint,
                      provenance={"versions": {"torch": torch, "transformers": "4.57.6", "adapters": adapters},
                                  "hardware": {"fingerprint": "cpu:test x2"}, "date": "2026-11-29T00:00:00+00:00",
                                  "git": {"commit": "abc"}},
                      floor={"accuracy": floor} if floor is not None else {})


def baseline_entry(**changes) -> dict:
    """The baseline entry --update-baselines writes for make_result(), with fields changed."""
    e = bl.entry_from_result(make_result())
    e.update(changes)
    return e


def baseline_of(values, **kw) -> dict:
    """The baseline entry of make_result(values, **kw)."""
    return bl.entry_from_result(make_result(tuple(values), **kw))


# --- any case: the values of its seeds ----------------------------------------------------------------------

def case_result(case, values, *, seeds=None, floor=50.0, **run_fields) -> CaseResult:
    """A CaseResult of ``case`` as a session makes it, one accuracy value per seed, without training.

    The values belong to the case's own seeds, in order (fewer values than seeds: the first seeds ran, the config
    keeps all of them); given ``seeds``, the values belong to those and they become the case's seeds. ``floor``:
    the trivial score (None: no floor recorded). ``run_fields`` go to every RunResult (train_samples_per_s, ...).
    """
    if seeds is not None:
        case = dataclasses.replace(case, seeds=tuple(seeds))
    runs = [RunResult(task=case.task, method=case.method, seed=s, metrics={"accuracy": v}, **run_fields)
            for s, v in zip(case.seeds, values)]
    return CaseResult(key=case.key, task=case.task, method=case.method, profile=case.profile,
                      primary_metric="accuracy", config=case.config(), config_hash=case.config_hash, runs=runs,
                      data_fingerprint="fp", floor={"accuracy": floor} if floor is not None else {},
                      provenance={"versions": {}, "hardware": {"fingerprint": "cpu:test x2"}, "git": {}})


# --- reports: several methods with parameters and throughput ------------------------------------------------

def report_result(task, method, values, trainable, speed=100.0, profile="smoke", model="tiny"):
    """A case with parameter counts, throughput and memory, as the report and the table show them."""
    case = tiny_case(task=task, method=method, seeds=tuple(range(len(values))), profile=profile, model=model)
    runs = [RunResult(task=task, method=method, seed=i, metrics={"accuracy": v}, train_samples_per_s=speed,
                      eval_samples_per_s=2 * speed, peak_mem_mb=100.0,
                      params=Params(total=1000, trainable=trainable, backbone=900, head=10, adapter=90))
            for i, v in enumerate(values)]
    return CaseResult(key=case.key, task=task, method=method, profile=profile, primary_metric="accuracy",
                      config=case.config(), config_hash=case.config_hash, runs=runs, data_fingerprint="fp",
                      provenance={"hardware": {"name": "test cpu", "device": "cpu", "count": 2},
                                  "versions": {"torch": "2.13.0"}, "git": {"commit": "abc"}, "date": "2026-11-29"},
                      floor={"accuracy": 50.0})


def judged_rows(results, status="pass"):
    """Table rows of ``results``, each with a verdict of ``status`` at its own mean (baseline = measured)."""
    return vd.rows(results, {r.key: Verdict(r.key, status, "accuracy", r.metric().mean, r.metric().mean, 1.0)
                             for r in results})


# sst2: full, seq_bn (trails full by 1.25 points, 2.2x its speed), lora, head_only; two seeds each
RESULTS = [report_result("sst2", "full", [90.0, 91.0], 1000, 50.0),
           report_result("sst2", "seq_bn", [89.0, 89.5], 100, 110.0),
           report_result("sst2", "lora", [88.0, 88.0], 50, 120.0),
           report_result("sst2", "head_only", [80.0, 81.0], 10, 200.0)]


# --- results files ------------------------------------------------------------------------------------------

def two_model_results_files(tmp_path, *, legacy_minilm=True):
    """The shards of two models' runs of the same cases (profile smoke): MiniLM's sst2 full and seq_bn recorded
    "pass" against baselines of 69.80 (``legacy_minilm``: written as before the key named the model, keys
    ``task/method``), and the tiny model's, which learns nothing, recorded "degenerate". Returns (minilm, tiny)."""
    minilm = [report_result("sst2", m, [70.0 + d], 100, model="minilm") for m, d in (("full", 0.5), ("seq_bn", 0.0))]
    tiny = [report_result("sst2", m, [50.0], 100, model="tiny") for m in ("full", "seq_bn")]
    m_rows = vd.rows(minilm, {r.key: Verdict(r.key, "pass", "accuracy", r.metric().mean, 69.80, 2.0, n=1)
                              for r in minilm})
    t_rows = vd.rows(tiny, {r.key: Verdict(r.key, "degenerate", "accuracy", 50.0, reasons=[
        "accuracy 50.00 is not above the trivial score 50.00 (the model learned nothing)"], n=1) for r in tiny})
    paths = tmp_path / "shard-minilm.json", tmp_path / "shard-tiny.json"
    results_files.write_results(paths[0], "smoke", m_rows)
    results_files.write_results(paths[1], "smoke", t_rows)
    if legacy_minilm:
        doc = json.loads(paths[0].read_text())
        for c in doc["cases"]:
            c["key"] = c["verdict"]["key"] = f"{c['task']}/{c['method']}"
        paths[0].write_text(json.dumps(doc))
    return paths


def results_file(path, results, profile="smoke", shard=None):
    """``results`` judged "pass" (judged_rows), written as --results-json writes them (``shard``: (i, n), the
    shard the file says it ran; None: the whole run)."""
    results_files.write_results(path, profile, judged_rows(results), shard=shard)
    return path


def planted_drop_results_file(src, dst, points: float, *, days: int = 7):
    """The results file ``src`` as the next CI run would write it: the same cases and config, ``days`` later, at
    another commit, every seed's primary metric ``points`` lower (a planted drop; nothing trained)."""
    doc = json.loads(Path(src).read_text())
    for c in doc["cases"]:
        prov = c["provenance"]
        prov["date"] = (dt.datetime.fromisoformat(prov["date"]) + dt.timedelta(days=days)).isoformat()
        prov["git"] = {**prov.get("git", {}), "commit": commit_sha(days)}
        for run in c["runs"]:
            run["metrics"][c["primary_metric"]] -= points
    doc["created"] = (dt.datetime.fromisoformat(doc["created"]) + dt.timedelta(days=days)).isoformat()
    Path(dst).write_text(json.dumps(doc))
    return dst


def unjudged_results_file(tmp_path, name="r.json", **changes):
    """One no-baseline case (make_result((70.0,)), profile unit) as a results file, with top-level fields (or, under
    ``verdict``, the case's verdict) replaced."""
    results = [make_result((70.0,))]
    rows = vd.rows(results, {r.key: vd.judge(r, None, vd.Policy(tolerance=1.0)) for r in results}, {})
    path = tmp_path / name
    results_files.write_results(path, "unit", rows)
    doc = json.loads(path.read_text())
    for where, value in changes.items():
        if where == "verdict":
            doc["cases"][0]["verdict"] = value
        else:
            doc[where] = value
    path.write_text(json.dumps(doc))
    return path


def handwritten_results_file(path, results, *, updated=(), extra=None, schema=1):
    """A results file written by hand, schema 1 (no shard recorded) or 2 (a whole run, shard 1 of 1): verdict
    "updated" for the keys in ``updated``, else "pass"; ``extra`` fields added to every run."""
    doc = {"schema": schema, "profile": "smoke", "created": "2025-03-01T00:00:00+00:00",
           **({"shard_count": 1, "shards": [1]} if schema == 2 else {}),
           "cases": [{**r.to_dict(), "verdict": {"key": r.key, "status": "updated" if r.key in updated else "pass"}}
                     for r in results]}
    for c in doc["cases"]:
        for run in c["runs"]:
            run.update(extra or {})
    path.write_text(json.dumps(doc))
    return path


# --- history: one result per day, with commit, versions and hardware ----------------------------------------

def commit_sha(day: int) -> str:
    """The (made-up) commit of day ``day``."""
    return hashlib.sha1(str(day).encode()).hexdigest()


def dated_result(mean: float, *, day: int, key="sst2/seq_bn", commit=None, versions=None, hw="cpu:test x2", sd=0.0,
                 rng=None, config_hash="cfg1", data="data1", profile="smoke", throughput=100.0, extra_run=None,
                 seeds=(0, 1, 2)) -> CaseResult:
    """A CaseResult as a session makes it on day ``day`` (2025-01-01 + day), with chosen per-seed values (``mean``
    plus normal noise of ``sd``) and provenance (no training)."""
    task, method = key.split("/")
    rng = rng or np.random.default_rng(day)
    runs = [RunResult(task, method, s, metrics={"accuracy": float(mean + (rng.normal(0, sd) if sd else 0.0))},
                      train_samples_per_s=throughput, **(extra_run or {})) for s in seeds]
    prov = {"versions": versions or {"torch": "2.2.0", "transformers": "4.57.6", "adapters": "1.3.0"},
            "hardware": {"fingerprint": hw}, "git": {"commit": commit or commit_sha(day), "dirty": False},
            "date": (dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=day)).isoformat()}
    return CaseResult(key=key, task=task, method=method, profile=profile, primary_metric="accuracy",
                      config={"model": "tiny", "seeds": list(seeds)}, config_hash=config_hash, runs=runs,
                      data_fingerprint=data, provenance=prov)


def record_history(path, means, **kw) -> None:
    """One dated_result per day (day = index in ``means``) appended to the history at ``path``."""
    for day, m in enumerate(means):
        hi.append(path, [dated_result(m, day=day, **kw)], run_id=f"run{day}")


# --- calibration: a baseline file with one entry and a noise block for it -----------------------------------

def file_with_entry(tmp_path, tolerance=None):
    """unit.json holding the entry of make_result((80.0,)), with ``tolerance`` if given."""
    path = tmp_path / "unit.json"
    bl.update(path, "unit", [make_result((80.0,))])
    if tolerance is not None:
        data = json.loads(path.read_text())
        data["entries"][KEY]["tolerance"] = tolerance
        path.write_text(json.dumps(data))
    return path


def calibration(values=(80.0, 80.8, 79.5, 80.3, 79.9), tol=1.0):
    """The calibration of KEY from five measured seeds, at 1 seed and tolerance ``tol``, for make_result's config."""
    c = cal.calibrate_values(KEY, "accuracy", list(values), 50.0, tol, 1, 2.0, reps=300)
    c.config_hash = make_result((80.0,)).config_hash
    return c
