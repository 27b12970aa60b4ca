"""Issue-4 behaviour: seed-aware verdicts, per-task tolerance, adapter gap and throughput gates, baselines diff."""

import dataclasses
import json

import pytest

from suite import baselines as bl
from suite import cli
from suite.profiles import get_profile
from suite.results import CaseResult, RunResult
from suite.session import BenchSession, Options

from test_baselines import make_result


def with_values(values, **kw):
    return make_result(tuple(values), **kw)


def baseline_of(values):
    return bl.entry_from_result(with_values(values))


# seed noise on SST-2/MNLI is 0.1-0.5 points: three seeds each
QUIET = [90.0, 90.2, 89.9]


def test_planted_drop_beyond_tolerance_and_noise_fails():
    v = bl.judge(with_values([x - 1.5 for x in QUIET]), baseline_of(QUIET), tolerance=0.5)
    assert v.status == "regression" and v.p_value < 0.05
    assert "one-sided Welch p=" in v.message and "n=3 vs 3 seeds" in v.message


def test_drop_inside_seed_noise_passes():
    noisy_base = [70.0, 76.0, 73.0]           # RTE-like spread
    current = [69.0, 75.5, 71.0]              # mean 1.8 lower, well inside the noise
    v = bl.judge(with_values(current), baseline_of(noisy_base), tolerance=1.0)
    assert v.status == "pass" and v.p_value >= 0.05
    assert "inside seed noise" in v.message


def test_drop_smaller_than_tolerance_passes_even_if_significant():
    v = bl.judge(with_values([x - 0.3 for x in QUIET]), baseline_of(QUIET), tolerance=0.5)
    assert v.status == "pass"


def test_single_seed_uses_the_tolerance_alone():
    v = bl.judge(with_values([88.0]), baseline_of([90.0]), tolerance=1.0)
    assert v.status == "regression" and v.p_value is None and "no seed-noise estimate" in v.message


def test_improvement_mirrors_regression():
    assert bl.judge(with_values([x + 2 for x in QUIET]), baseline_of(QUIET), tolerance=0.5).status == "improved"


def test_changed_learning_rate_in_profile_is_stale_not_failing():
    base = baseline_of([95.0])
    v = bl.judge(make_result((50.0,), lr=2e-3), base, tolerance=0.5)
    assert v.status == "stale" and not v.failed and "lr: 0.001 -> 0.002" in v.message


def test_per_task_tolerance_in_profile():
    p = dataclasses.replace(get_profile("smoke"), task_tolerance={"mnli": 3.0})
    assert p.tolerance_for("mnli") == 3.0 and p.tolerance_for("sst2") == p.tolerance


def test_throughput_is_compared_only_on_the_same_hardware(tmp_path):
    r = make_result()
    r.runs[0].train_samples_per_s = 80.0
    entry = {"throughput": {"cpu:test x2": {"train_samples_per_s": 100.0}}}
    assert bl.throughput_change(r, entry) == pytest.approx(-20.0)
    assert bl.throughput_change(r, {"throughput": {"cuda:H100 x1": {"train_samples_per_s": 900.0}}}) is None


def test_update_keeps_throughput_of_other_hardware(tmp_path):
    path = tmp_path / "unit.json"
    bl.write_atomic(path, {"entries": {"sst2/seq_bn": {"mean": 1.0, "throughput": {"cuda:H100 x1": {"train_samples_per_s": 900.0}}}}})
    bl.update(path, "unit", [make_result()])
    tp = json.loads(path.read_text())["entries"]["sst2/seq_bn"]["throughput"]
    assert set(tp) == {"cuda:H100 x1", "cpu:test x2"}


def _session(tmp_path, **opts):
    return BenchSession(Options(profile="smoke", model="tiny", baselines_dir=str(tmp_path), **opts))


def _fake(case, value, train_speed=100.0):
    run = RunResult(task=case.task, method=case.method, seed=0, metrics={"accuracy": value},
                    train_samples_per_s=train_speed)
    return CaseResult(key=case.key, task=case.task, method=case.method, profile=case.profile,
                      primary_metric="accuracy", config=case.config(), config_hash=case.config_hash, runs=[run],
                      data_fingerprint="fp", provenance={"hardware": {"fingerprint": "cpu:test x2"}})


def _cases(session):
    full, adapter = [c for c in session.cases() if c.task == "sst2"]
    return full, adapter


def test_max_gap_fails_adapter_trailing_full_by_more(tmp_path):
    s = _session(tmp_path, max_gap=0.5, tasks="sst2")
    full, adapter = _cases(s)
    s._done[(full.config_hash, full.glue_dir)] = _fake(full, 85.0)
    [msg] = s.gates(adapter, _fake(adapter, 84.4))
    assert "trails full fine-tuning by 0.60 points" in msg and "--max-gap 0.50" in msg
    assert s.gates(adapter, _fake(adapter, 84.6)) == []
    assert s.gates(full, _fake(full, 85.0)) == []  # full itself is never gap-gated


def test_speed_ratio_and_gap_are_reported_per_adapter_row(tmp_path):
    s = _session(tmp_path, tasks="sst2")
    full, adapter = _cases(s)
    s.add(_fake(full, 85.0, train_speed=100.0))
    s.add(_fake(adapter, 84.0, train_speed=190.0))
    row = [r for r in s.table_rows() if r.result.method == "seq_bn"][0]
    assert row.gap == pytest.approx(-1.0) and row.speed == pytest.approx(1.9)
    assert "1.90x" in s.summary() and "-1.00" in s.summary()


def test_throughput_gate_only_when_asked(tmp_path):
    full, _ = _cases(_session(tmp_path, tasks="sst2"))
    bl.write_atomic(tmp_path / "smoke.json", {"entries": {full.key: {"mean": 85.0, "throughput": {
        "cpu:test x2": {"train_samples_per_s": 100.0}}}}})
    s = _session(tmp_path, tasks="sst2", throughput_tolerance=10.0)
    assert "training throughput -20.0%" in s.gates(full, _fake(full, 85.0, train_speed=80.0))[0]
    assert s.gates(full, _fake(full, 85.0, train_speed=95.0)) == []
    off = _session(tmp_path, tasks="sst2")
    assert off.gates(full, _fake(full, 85.0, train_speed=10.0)) == []


def test_baselines_diff_reads_like_a_review(tmp_path):
    path = tmp_path / "unit.json"
    bl.write_atomic(path, {"entries": {"sst2/seq_bn": bl.entry_from_result(make_result((80.0,))),
                                       "mnli/full": {"mean": 70.0}}})
    res = tmp_path / "results.json"
    doc = {"profile": "unit", "cases": [make_result((81.0,)).to_dict(), make_result((60.0,), key_method="full").to_dict(),
                                        make_result(status="failed", key_method="seq_bn[reduction_factor=2]").to_dict()]}
    res.write_text(json.dumps(doc))
    text, kinds = cli.baselines_diff(res, tmp_path)
    assert kinds == {"sst2/seq_bn": "changed", "sst2/full": "new", "sst2/seq_bn[reduction_factor=2]": "refused"}
    assert "accuracy 80.00 -> 81.00 (+1.00)" in text and "untouched: mnli/full" in text
    assert "would NOT be written" in text
