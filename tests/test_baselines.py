import json

import pytest

from suite import baselines as bl
from suite.errors import SuiteError
from suite.results import CaseResult, RunResult

from helpers import tiny_case


def make_result(values=(80.0,), key_method="seq_bn", status="ok", lr=1e-3, fingerprint="fp1", torch="2.13.0+cpu"):
    case = tiny_case(method=key_method, lr=lr, seeds=tuple(range(len(values))))
    runs = [RunResult(task="sst2", method=key_method, seed=i, status=status, metrics={"accuracy": v},
                      error=None if status == "ok" else "training loss became nan at step 3")
            for i, v in enumerate(values)]
    return CaseResult(key=case.key, task="sst2", method=key_method, profile="unit", primary_metric="accuracy",
                      config=case.config(), config_hash=case.config_hash, runs=runs, data_fingerprint=fingerprint,
                      provenance={"versions": {"torch": torch, "transformers": "4.57.6"},
                                  "hardware": {"fingerprint": "cpu:test x2"}, "date": "2026-11-29T00:00:00+00:00",
                                  "git": {"commit": "abc"}})


def entry(**changes):
    e = bl.entry_from_result(make_result())
    e.update(changes)
    return e


def test_pass_regression_improved_with_numbers_in_message():
    r = make_result((80.0,))
    assert bl.judge(r, entry(mean=80.5), tolerance=1.0).status == "pass"
    v = bl.judge(r, entry(mean=81.5), tolerance=1.0)
    assert v.status == "regression" and v.failed
    assert "baseline 81.50" in v.message and "accuracy = 80.00" in v.message and "tolerance 1.00" in v.message
    assert bl.judge(r, entry(mean=78.0), tolerance=1.0).status == "improved"


def test_boundary_is_inclusive():
    assert bl.judge(make_result((79.0,)), entry(mean=80.0), tolerance=1.0).status == "pass"


def test_tolerance_precedence_cli_then_entry_then_profile():
    r = make_result((80.0,))
    assert bl.judge(r, entry(mean=82.0), tolerance=1.0).status == "regression"
    assert bl.judge(r, entry(mean=82.0, tolerance=3.0), tolerance=1.0).status == "pass"
    assert bl.judge(r, entry(mean=82.0, tolerance=3.0), tolerance=1.0, tolerance_override=0.5).status == "regression"


def test_no_baseline_and_failed():
    assert bl.judge(make_result(), None, tolerance=1.0).status == "no-baseline"
    v = bl.judge(make_result(status="failed"), entry(), tolerance=1.0)
    assert v.status == "failed" and v.failed and "nan at step 3" in v.message


def test_changed_config_data_or_version_is_stale_not_failing():
    base = entry(mean=90.0)
    v = bl.judge(make_result(lr=5e-4), base, tolerance=1.0)
    assert v.status == "stale" and not v.failed and "lr: 0.001 -> 0.0005" in v.message
    assert bl.judge(make_result(fingerprint="other"), base, tolerance=1.0).status == "stale"
    assert bl.judge(make_result(torch="2.14.0"), base, tolerance=1.0).status == "stale"
    # a local build tag (+cpu / +cu128) is the same release
    assert bl.judge(make_result(torch="2.13.0+cu128"), base, tolerance=1.0).status == "regression"


def test_update_rewrites_only_its_entry_and_keeps_unknown_fields(tmp_path):
    path = tmp_path / "unit.json"
    other = {"mean": 70.0, "metric": "accuracy", "note": "hand-written"}
    bl.write_atomic(path, {"schema": 1, "entries": {"mnli/full": other, "sst2/seq_bn": {"mean": 1.0, "tolerance": 2.5,
                                                                                        "reviewer": "x"}}})
    before = json.loads(path.read_text())
    updated, refused = bl.update(path, "unit", [make_result((83.0,))])
    assert updated == ["sst2/seq_bn"] and refused == []
    after = json.loads(path.read_text())
    assert after["entries"]["mnli/full"] == before["entries"]["mnli/full"]
    e = after["entries"]["sst2/seq_bn"]
    assert e["mean"] == 83.0 and e["tolerance"] == 2.5 and e["reviewer"] == "x"
    assert path.read_text() == bl.dumps(after)  # sorted, pretty, stable
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_update_refuses_failed_runs(tmp_path):
    path = tmp_path / "unit.json"
    updated, refused = bl.update(path, "unit", [make_result(status="failed")])
    assert updated == [] and "nan" in refused[0]
    assert not path.exists()


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not valid JSON"),
    ('{"entries": []}', "no 'entries' object"),
    ('{"entries": {"sst2/full": {"mean": "high"}}}', "no numeric 'mean'"),
    ('{"entries": {"sst2/full": {"mean": 80, "tolerance": -1}}}', "tolerance"),
])
def test_broken_file_is_reported_and_left_alone(tmp_path, content, problem):
    path = tmp_path / "unit.json"
    path.write_text(content)
    with pytest.raises(SuiteError) as e:
        bl.load(path)
    assert str(path) in str(e.value) and problem in str(e.value) and "git checkout" in str(e.value)
    with pytest.raises(SuiteError):
        bl.update(path, "unit", [make_result()])
    assert path.read_text() == content
