"""BenchSession (suite/session/): which cases run (shards, one GPU per xdist worker), the checks before the first
training step, running (adaptive seeds), judging (gap and history gates) and finishing (the results history)."""

import pytest
from factories import case_result

from suite.config.options import Options
from suite.engine.results import CaseResult, RunResult
from suite.errors import SuiteError
from suite.session.bench import BenchSession
from suite.session.selection import device_for_worker
from suite.store import history as hi

# --- selection ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("worker, visible, expected", [
    ("gw0", ["0", "1", "2", "3"], "0"), ("gw5", ["0", "1", "2", "3"], "1"), ("gw1", ["4", "6"], "6"),
    ("gw1", ["0"], None), (None, ["0", "1"], None),
])
def test_each_xdist_worker_takes_its_own_gpu(worker, visible, expected):
    assert device_for_worker(worker, visible) == expected


def test_shards_partition_the_cases():
    def ids(shard):
        s = BenchSession(Options(profile="smoke", methods="full,seq_bn,lora", shard=shard))
        return [c.key for c in s.cases()]
    every = ids(None)
    parts = [ids((i, 3)) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(every) and all(parts)
    # (a shard beyond the count is refused by the option's parser: tests/test_options.py)


# --- preflight: before the first training step --------------------------------------------------------------

def test_every_method_is_checked_on_the_model_before_training():
    """Several methods in one session are each built once on the model's architecture (meta device), and a config
    that does not fit is one line naming it, before any training."""
    from suite.config.options import Options
    from suite.session.bench import BenchSession

    s = BenchSession(Options(profile="smoke", methods="full,seq_bn,lora,compacter,seq_bn+top2,prefix_tuning"))
    assert len(s.cases()) == 12
    for model, bad, message in [("minilm", "lora,lora[r=0]", "Method 'lora[r=0]': r=0 must be > 0"),
                                ("minilm", "seq_bn,seq_bn[reduction_factor=0]", "reduction_factor=0 must be > 0"),
                                ("minilm", "seq_bn,compacter[phm_dim=5]",
                                 "Method 'compacter[phm_dim=5]' cannot be applied to model 'minilm'"),
                                ("tiny", "seq_bn+top3,seq_bn+top5", "the model has only 4 encoder layers")]:
        with pytest.raises(SuiteError) as e:
            BenchSession(Options(profile="smoke", methods=bad, model=model))
        assert message in str(e.value)


def test_a_history_path_that_is_not_a_history_stops_the_run_before_training(tmp_path):
    from suite.config.options import Options
    from suite.session.bench import BenchSession

    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a database"}')
    with pytest.raises(SuiteError):
        BenchSession(Options(model="tiny", tasks="sst2", baselines_dir=str(tmp_path), history=str(bad)))
    empty = tmp_path / "empty.sqlite"
    empty.touch()  # an empty file is fine: the first append creates the tables
    BenchSession(Options(model="tiny", tasks="sst2", baselines_dir=str(tmp_path), history=str(empty)))


# --- running ------------------------------------------------------------------------------------------------

def test_session_adaptive_seeds_stop_early_on_unchanged_code_and_say_why(tmp_path, monkeypatch):
    """--adaptive-seeds through the session: a case identical to its 3-seed baseline stops before 3 seeds, and the
    result records how many seeds ran and why it stopped; a collapsed seed still fails."""

    from suite.config.options import Options
    from suite.engine import run as engine_run
    from suite.engine.results import CaseResult, RunResult
    from suite.gate import baselines as bl
    from suite.session.bench import BenchSession

    values = {0: 90.0, 1: 90.3, 2: 89.8}

    def fake_run_case(case, log=None, show_progress=False):
        runs = [RunResult(task=case.task, method=case.method, seed=s, metrics={"accuracy": values[s]})
                for s in case.seeds]
        return CaseResult(key=case.key, task=case.task, method=case.method, profile=case.profile,
                          primary_metric="accuracy", config=case.config(), config_hash=case.config_hash, runs=runs,
                          data_fingerprint="fp", floor={"accuracy": 50.0},
                          provenance={"versions": {}, "hardware": {"fingerprint": "cpu:test x2"}})

    monkeypatch.setattr(engine_run, "run_case", fake_run_case)
    opts = dict(profile="smoke", model="tiny", tasks="sst2", methods="seq_bn", seeds=(0, 1, 2),
                baselines_dir=str(tmp_path), no_history=True)
    [case] = BenchSession(Options(**opts)).cases()
    bl.update(tmp_path / "smoke.json", "smoke", [fake_run_case(case)])
    calls = []
    monkeypatch.setattr(engine_run, "run_case", lambda c, **kw: calls.append(c.seeds) or fake_run_case(c, **kw))
    s = BenchSession(Options(**opts, adaptive_seeds=True))
    result = s.run(case)
    assert len(calls) < 3 and result.provenance["adaptive"]["seeds_run"] == len(calls)
    assert result.provenance["adaptive"]["decision"] == "pass" and s.judge(result).status == "pass"

    values[0] = 75.0  # the first seed collapses: the adaptive run must keep going and fail
    calls.clear()
    s = BenchSession(Options(**opts, adaptive_seeds=True))
    v = s.judge(s.run(case))
    assert v.failed and len(calls) >= 2, v.message


# --- judging: gap and speed, one definition -----------------------------------------------------------------

def _session(tmp_path, **opts):
    return BenchSession(Options(profile="smoke", model="tiny", baselines_dir=str(tmp_path), **opts))


def _cases(session):
    full, adapter = [c for c in session.cases() if c.task == "sst2"]
    return full, adapter


def test_gap_is_paired_over_seeds_and_speed_is_a_ratio(tmp_path):
    s = _session(tmp_path, tasks="sst2")
    full, adapter = _cases(s)
    s.add(case_result(full, [85.0, 86.0], seeds=(0, 1), train_samples_per_s=100.0))
    s.add(case_result(adapter, [84.0, 84.5], seeds=(0, 1), train_samples_per_s=190.0))
    row = [r for r in s.table_rows() if r.result.method == "seq_bn"][0]
    assert row.gap == pytest.approx(-1.25) and row.gap_sd == pytest.approx(0.3536, abs=1e-3)
    assert row.speed == pytest.approx(1.9)
    assert "1.90x" in s.summary() and "-1.25" in s.summary()


def test_max_gap_judged_from_results_without_retraining(tmp_path):
    s = _session(tmp_path, max_gap=0.5, tasks="sst2")
    full, adapter = _cases(s)
    # no reference in this process yet: the per-case gate defers, it never trains full fine-tuning itself
    assert s.gates(adapter, case_result(adapter, [84.4], train_samples_per_s=100.0)) == []
    assert s._done == {}
    s._done[(full.config_hash, full.glue_dir)] = case_result(full, [85.0], train_samples_per_s=100.0)
    [msg] = s.gates(adapter, case_result(adapter, [84.4], train_samples_per_s=100.0))
    assert "trails full fine-tuning by 0.60 points" in msg and "--max-gap 0.50" in msg
    assert s.gates(adapter, case_result(adapter, [84.6], train_samples_per_s=100.0)) == []
    assert s.gates(full, case_result(full, [85.0], train_samples_per_s=100.0)) == []  # full itself is never gap-gated


def test_max_gap_without_a_reference_fails_rather_than_passing(tmp_path):
    s = _session(tmp_path, max_gap=0.5, tasks="sst2")
    _, adapter = _cases(s)
    s.add(case_result(adapter, [99.0], train_samples_per_s=100.0))
    [msg] = s.gap_failures()
    assert "cannot judge" in msg and s.outcome().failed


# --- finishing: the results history -------------------------------------------------------------------------

def test_the_session_appends_at_finish_and_gates_drift_from_the_history(tmp_path):
    """Wiring through BenchSession (what pytest and `python -m suite run` call): finish() appends one record per
    case (not with --no-history, not after an interrupt), and --max-drift fails a case that slid below its
    config's reference (median of its first 3 runs), though its own baseline would pass."""

    from suite.config.options import Options
    from suite.session.bench import BenchSession

    db = tmp_path / "h.sqlite"
    opts = dict(profile="smoke", model="tiny", tasks="sst2", methods="seq_bn", baselines_dir=str(tmp_path),
                history=str(db))
    [case] = BenchSession(Options(**opts)).cases()

    def result(value, day):
        run = RunResult(task="sst2", method="seq_bn", seed=0, metrics={"accuracy": value})
        return CaseResult(key=case.key, task="sst2", method="seq_bn", profile="smoke", primary_metric="accuracy",
                          config=case.config(), config_hash=case.config_hash, runs=[run], data_fingerprint="fp",
                          floor={"accuracy": 50.0},
                          provenance={"date": f"2026-11-{day:02d}T00:00:00+00:00", "versions": {},
                                      "hardware": {"fingerprint": "cpu:test x2"}, "git": {"commit": f"c{day}"}})

    for day, value in enumerate([80.0, 79.7, 79.4, 79.1], start=1):  # each step 0.3: inside any 0.5 tolerance
        s = BenchSession(Options(**opts))
        s.add(result(value, day))
        lines, broken = s.finish()
        assert not broken and any("history: 1 record appended" in line for line in lines)
    assert len(hi.load(db)[("smoke", "sst2/seq_bn@tiny")]) == 4

    quiet = BenchSession(Options(**opts, no_history=True))
    quiet.add(result(70.0, 9))
    quiet.finish()
    interrupted = BenchSession(Options(**opts))
    interrupted.add(result(70.0, 10))
    interrupted.finish(interrupted=True)
    assert len(hi.load(db)[("smoke", "sst2/seq_bn@tiny")]) == 4

    drifting = BenchSession(Options(**opts, max_drift=0.5))
    [msg] = drifting.gates(case, result(78.8, 11))  # 0.9 below the reference (79.70) of this config
    assert "0.90 points below the reference 79.70" in msg
    assert BenchSession(Options(**opts, max_drift=2.0)).gates(case, result(78.8, 11)) == []
