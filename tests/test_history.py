"""Results history: storage (concurrent, idempotent), change points, drift, blame and the CLI."""

from __future__ import annotations

import multiprocessing
import sqlite3

import numpy as np
import pytest
from factories import commit_sha, dated_result, handwritten_results_file, record_history

from suite.__main__ import main
from suite.engine.results import CaseResult, RunResult
from suite.errors import SuiteError
from suite.store import history as hi
from suite.store.changepoints import MAX_P, e_divisive

SEEDS = (0, 1, 2)


# --- change points ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("at", [4, 8, 11])
def test_planted_step_is_found_at_the_right_run_and_blamed(tmp_path, at):
    db = tmp_path / "h.sqlite"
    rng = np.random.default_rng(at)
    for day in range(14):
        versions = {"torch": "2.2.0" if day < at else "2.3.0", "transformers": "4.57.6", "adapters": "1.3.0"}
        hi.append(db, [dated_result(90.0 - (1.5 if day >= at else 0.0), day=day, sd=0.3, rng=rng, versions=versions)])
    pts = hi.load(db)[("smoke", "sst2/seq_bn")]
    [cp] = hi.change_points(pts)
    assert cp.index == at and cp.point is pts[at]
    assert -1.9 < cp.size < -1.1 and cp.p_value <= MAX_P
    assert "torch 2.2.0 -> 2.3.0" in cp.changed
    text = hi.blame(db, "sst2/seq_bn")
    assert f"commit {commit_sha(at)}" in text and f"git log {commit_sha(at - 1)}..{commit_sha(at)}" in text
    assert "torch 2.2.0 -> 2.3.0" in text and "-1." in text


def test_two_steps_both_found():
    rng = np.random.default_rng(7)
    means = [90.0] * 8 + [88.0] * 8 + [86.0] * 8
    found = sorted(s.index for s in e_divisive(np.array(means) + rng.normal(0, 0.2, len(means))))
    assert found == [8, 16]


def test_false_alarm_rate_on_noise_and_power_on_steps():
    """200 pure-noise series of 15 runs (mean of 3 seeds, seed sd 0.4): how often a change point is reported.
    The level of each split is MAX_P = 0.01; the measured rate must stay under 3% (the README quotes it)."""
    rng = np.random.default_rng(2024)
    n_series, runs = 200, 15
    alarms = sum(bool(e_divisive(rng.normal(90, 0.4, (runs, 3)).mean(axis=1), seed=i)) for i in range(n_series))
    rate = alarms / n_series
    print(f"false-alarm rate on noise: {alarms}/{n_series} = {rate:.3f}")
    assert rate <= 0.03
    # and the same detector does find a 1-point step (about 4 sd of a run mean) in the middle of such series
    hits = 0
    for i in range(100):
        x = rng.normal(90, 0.4, (runs, 3)).mean(axis=1)
        x[8:] -= 1.0
        hits += any(abs(s.index - 8) <= 1 for s in e_divisive(x, seed=i))
    print(f"power for a 1.0-point step after run 8 of 15: {hits}/100")
    assert hits >= 90


def test_a_step_needs_a_few_runs_after_it():
    """The limit the README states: a drop in only the latest run is never significant (p >= ~2/n), whatever its
    size; three runs below a step at the end of 20 are found."""
    rng = np.random.default_rng(11)
    found = {1: 0, 3: 0}
    for i in range(50):
        for k in found:
            x = rng.normal(90, 0.2, 20)
            x[-k:] -= 5.0                                   # 25 sd of a run mean
            found[k] += any(s.index == 20 - k for s in e_divisive(x, seed=i))
    print(f"drop in the last run found {found[1]}/50, in the last 3 runs {found[3]}/50")
    assert found[1] == 0 and found[3] >= 45


def test_no_change_point_in_constant_or_short_series():
    assert e_divisive([90.0] * 10) == []
    assert e_divisive([90.0, 80.0, 70.0]) == []


def test_latest_change_point_gate(tmp_path):
    db = tmp_path / "h.sqlite"
    rng = np.random.default_rng(1)
    means = [90.0] * 12
    record_history(db, means, sd=0.2, rng=rng)
    pts = hi.load(db)[("smoke", "sst2/seq_bn")]
    assert hi.latest_change_point(pts) is None
    # three runs 2 points lower: the third one makes the step significant -> the gate fires once, naming run 12
    for day in (12, 13, 14):
        pts.append(hi.point_of(dated_result(88.0, day=day, sd=0.2, rng=rng)))
    fired = [hi.latest_change_point(pts[:k]) for k in range(13, 16)]
    assert any(fired)
    first = next(c for c in fired if c)
    assert first.point is pts[12] and first.size < -1.5
    assert hi.latest_change_point(pts + [hi.point_of(dated_result(88.0, day=15, sd=0.2, rng=rng))]) is None  # not new
    # a rise never fires; nor does a config change
    up = pts[:12] + [hi.point_of(dated_result(92.0, day=d, sd=0.2, rng=rng)) for d in (12, 13, 14, 15)]
    assert all(hi.latest_change_point(up[:k]) is None for k in range(13, 17))
    other = pts[:12] + [hi.point_of(dated_result(80.0, day=d, sd=0.2, rng=rng, config_hash="cfg2"))
                        for d in (12, 13, 14)]
    assert hi.latest_change_point(other) is None


# --- drift --------------------------------------------------------------------------------------------------

def test_slow_drift_trips_although_every_step_is_within_tolerance(tmp_path):
    """0.3 points lost per release over 5 releases, each accepted as the new baseline: no step exceeds the
    0.5-point tolerance, the drift of 1.5 points exceeds --max-drift 1.0 and names the updates that carried it."""
    db = tmp_path / "h.sqlite"
    means = [90.0 - 0.3 * k for k in range(6)]
    for k, m in enumerate(means):
        versions = {"torch": f"2.{2 + k}.0", "transformers": "4.57.6", "adapters": "1.3.0"}
        hi.append(db, [dated_result(m, day=k, versions=versions)], baseline_updated=k > 0)
    assert all(abs(a - b) < 0.5 for a, b in zip(means, means[1:]))
    series = hi.load(db)[("smoke", "sst2/seq_bn")]
    msg = hi.drift(series, means[-1], 1.0)
    assert msg is not None and "1.50 points below the best 90.00" in msg
    for k in range(1, 6):
        assert f"torch 2.{2 + k}.0" in msg
    assert hi.drift(series, means[-1], 2.0) is None
    assert hi.drift(series[:3], means[2], 1.0) is None                        # 0.6 so far
    # another config's best does not count
    assert hi.drift(series, means[-1], 1.0, config_hash="other") is None
    # the one-call form the session uses
    assert "1.50 points below" in hi.drift_for(db, dated_result(means[-1], day=9), 1.0)
    assert hi.drift_for(tmp_path / "absent.sqlite", dated_result(80.0, day=9), 1.0) is None


# --- storage ------------------------------------------------------------------------------------------------

def _writer(db, worker, n, barrier):
    barrier.wait()  # all start appending at once
    for i in range(n):
        hi.append(db, [dated_result(90.0 + worker + i / 100, day=i, key=f"sst2/m{worker}"),
                       dated_result(80.0 + i / 100, day=i, key=f"mnli/m{worker}")], run_id=f"w{worker}-{i}")


def test_concurrent_appends_from_several_processes_lose_nothing(tmp_path):
    db = str(tmp_path / "h.sqlite")
    workers, per = 4, 15
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_writer, args=(db, w, per, barrier)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * workers
    series = hi.load(db)
    assert len(series) == 2 * workers
    assert all(len(pts) == per for pts in series.values())
    assert sum(len(p) for p in series.values()) == 2 * workers * per
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_import_is_idempotent_and_records_baseline_updates(tmp_path):
    db = tmp_path / "h.sqlite"
    results = [dated_result(90.0, day=1), dated_result(80.0, day=1, key="mnli/full")]
    f = handwritten_results_file(tmp_path / "r.json", results, updated={"mnli/full"},
                                 extra={"train_samples_per_cpu_s": 12.5})
    assert hi.import_results(db, [f]) == [(f, 2, 2)]
    assert hi.import_results(db, [f, f]) == [(f, 2, 0), (f, 2, 0)]
    assert hi.append(db, results) == 0   # the session appended the same cases: still nothing new
    series = hi.load(db)
    assert {k: len(v) for k, v in series.items()} == {("smoke", "sst2/seq_bn"): 1, ("smoke", "mnli/full"): 1}
    [m] = series[("smoke", "mnli/full")]
    [s] = series[("smoke", "sst2/seq_bn")]
    assert m.baseline_updated and not s.baseline_updated
    assert m.throughput_per_cpu_s == 12.5 and m.throughput == 100.0
    assert s.values == [90.0] * 3 and s.n == 3 and s.seeds == list(SEEDS) and s.versions["torch"] == "2.2.0"
    assert s.hardware == "cpu:test x2" and s.config_hash == "cfg1" and s.data_fingerprint == "data1"
    # append with the list of keys baselines.update returns
    assert hi.append(db, [dated_result(91.0, day=2), dated_result(81.0, day=2, key="mnli/full")],
                     baseline_updated=["sst2/seq_bn"]) == 2
    series = hi.load(db)
    assert (series[("smoke", "sst2/seq_bn")][-1].baseline_updated
            and not series[("smoke", "mnli/full")][-1].baseline_updated)


def test_failed_case_is_stored_but_not_analysed(tmp_path):
    db = tmp_path / "h.sqlite"
    bad = dated_result(90.0, day=3)
    for r in bad.runs:
        r.status, r.error, r.metrics = "failed", "boom", {}
    record_history(db, [90.0, 90.0, 90.0])
    hi.append(db, [bad])
    pts = hi.load(db)[("smoke", "sst2/seq_bn")]
    assert not pts[-1].ok and pts[-1].mean is None and "boom" in pts[-1].error
    assert hi.change_points(pts) == [] and hi.drift(pts[:-1], 90.0, 1.0) is None


def test_real_tiny_case_appended(tmp_path):
    from helpers import tiny_case

    from suite.engine.results import hardware
    from suite.engine.run import run_case

    result = run_case(tiny_case())
    assert result.ok, result.error
    db = tmp_path / "h.sqlite"
    assert hi.append(db, [result], run_id="real") == 1
    [p] = hi.load(db)[("unit", "sst2/seq_bn")]
    assert p.values == [r.metrics["accuracy"] for r in result.runs] and p.mean == result.metric().mean
    assert p.throughput == result.mean_of("train_samples_per_s") > 0
    assert p.hardware == hardware()["fingerprint"] and p.config_hash == result.config_hash
    assert p.data_fingerprint == result.data_fingerprint != ""
    assert p.versions["torch"] == result.provenance["versions"]["torch"] and p.date == result.provenance["date"]
    assert hi.drift_for(db, result, 1.0) is None and hi.change_point_for(db, result) is None
    assert hi.append(db, [result], run_id="again") == 0


# --- CLI ----------------------------------------------------------------------------------------------------

def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_show_plot_blame_import(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    rng = np.random.default_rng(5)
    for day in range(12):
        versions = {"torch": "2.2.0" if day < 7 else "2.3.0", "transformers": "4.57.6", "adapters": "1.3.0"}
        hi.append(db, [dated_result(90.0 - (2.0 if day >= 7 else 0.0), day=day, sd=0.3, rng=rng, versions=versions),
                       dated_result(80.0, day=day, key="mnli/full", sd=0.3, rng=rng)], baseline_updated=day == 7)
    code, out, err = _cli(capsys, "history", "show", "--history", str(db), "--case", "sst2/seq_bn")
    assert code == 0 and err == ""
    row7 = next(line for line in out.splitlines() if commit_sha(7)[:8] in line)
    assert "CHANGE POINT -1." in row7 or "CHANGE POINT -2." in row7
    assert "baseline updated" in row7 and "torch 2.2.0 -> 2.3.0" in row7
    assert "mnli/full" not in out
    code, out, err = _cli(capsys, "history", "plot", "--history", str(db), "--out", str(tmp_path / "plots"))
    assert code == 0
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    code, out, err = _cli(capsys, "history", "blame", "sst2/seq_bn", "--history", str(db))
    assert code == 0 and f"commit {commit_sha(7)}" in out and "torch 2.2.0 -> 2.3.0" in out
    code, out, err = _cli(capsys, "history", "blame", "mnli/full", "--history", str(db))
    assert code == 0 and "no significant change point" in out
    f = handwritten_results_file(tmp_path / "r.json", [dated_result(70.0, day=20, key="rte/lora")])
    code, out, err = _cli(capsys, "history", "import", str(f), "--history", str(db))
    assert code == 0 and "1 new record" in out
    code, out, err = _cli(capsys, "history", "import", str(f), "--history", str(db))
    assert code == 0 and "0 new record" in out


@pytest.mark.parametrize("problem", ["missing", "corrupt", "foreign", "empty", "unknown case", "unknown profile",
                                     "missing results", "bad results"])
def test_cli_mistakes_are_one_line(tmp_path, capsys, problem):
    db = tmp_path / "h.sqlite"
    args = ["history", "show", "--history", str(db)]
    if problem == "corrupt":
        db.write_bytes(b"this is not a database" * 100)
    elif problem == "foreign":
        with sqlite3.connect(db) as con:
            con.execute("CREATE TABLE other (x)")
    elif problem == "empty":
        hi.append(db, [])
    elif problem.startswith("unknown"):
        record_history(db, [90.0, 90.0])
        args += ["--case", "sst2/seq_bm"] if problem == "unknown case" else ["--profile", "quik"]
    elif problem == "missing results":
        args = ["history", "import", str(tmp_path / "nope.json"), "--history", str(db)]
    elif problem == "bad results":
        (tmp_path / "bad.json").write_text("{not json")
        args = ["history", "import", str(tmp_path / "bad.json"), "--history", str(db)]
    code, out, err = _cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    if problem == "unknown case":
        assert "Did you mean: sst2/seq_bn" in err
    # a corrupt or foreign database is also one SuiteError for the session's append (and is left as it was)
    if problem in ("corrupt", "foreign"):
        with pytest.raises(SuiteError, match="not a results history"):
            hi.append(db, [dated_result(90.0, day=1)])
    if problem == "foreign":
        with sqlite3.connect(db) as con:
            assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["other"]


def test_the_session_appends_at_finish_and_gates_drift_from_the_history(tmp_path):
    """Wiring through BenchSession (what pytest and `python -m suite run` call): finish() appends one record per
    case (not with --no-history, not after an interrupt), and --max-drift fails a case that slid below the best
    value its config ever recorded, though its own baseline would pass."""

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
    assert len(hi.load(db)[("smoke", "sst2/seq_bn")]) == 4

    quiet = BenchSession(Options(**opts, no_history=True))
    quiet.add(result(70.0, 9))
    quiet.finish()
    interrupted = BenchSession(Options(**opts))
    interrupted.add(result(70.0, 10))
    interrupted.finish(interrupted=True)
    assert len(hi.load(db)[("smoke", "sst2/seq_bn")]) == 4

    drifting = BenchSession(Options(**opts, max_drift=0.5))
    [msg] = drifting.gates(case, result(78.8, 11))  # 1.2 below the best (80.0) of this config
    assert "80.00" in msg or "80.0" in msg
    assert BenchSession(Options(**opts, max_drift=2.0)).gates(case, result(78.8, 11)) == []


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
