"""Issue 17: measured gate power. The calibration's figures are checked against closed forms and against
simulations that share none of its code (own RNG, own construction of results and entries), and the CLI's
mistakes end in one line."""

import json
import math
import statistics
from statistics import NormalDist

import numpy as np
import pytest
from factories import KEY, calibration, file_with_entry, make_result
from scipy import stats

from suite.__main__ import main
from suite.commands import baselines as cli
from suite.config.profiles import cases, get_profile
from suite.engine.results import CaseResult, RunResult
from suite.gate import baselines as bl
from suite.gate import calibration as cal
from suite.gate import verdicts as vd

REPS = 1000


def _judge_rate(mean, sd, floor, tol, n, drop, reps=1500, seed=4242):
    """Independent simulation: own RNG, own results and entries, the gate's judge."""
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(reps):
        base = mean + sd * rng.standard_normal(n)
        run = mean - drop + sd * rng.standard_normal(n)
        runs = [RunResult(task="sst2", method="full", seed=s, metrics={"accuracy": float(v)})
                for s, v in enumerate(run)]
        result = CaseResult(key="sst2/full", task="sst2", method="full", profile="t", primary_metric="accuracy",
                            config={}, config_hash="", runs=runs, floor={"accuracy": floor})
        entry = {"metric": "accuracy", "mean": float(base.mean()), "sd": float(base.std(ddof=1)) if n > 1 else 0.0,
                 "n": n, "values": [float(v) for v in base], "provenance": {"seeds": list(range(n))}}
        fails += vd.judge(result, entry, vd.Policy(tolerance=tol)).failed
    return fails / reps


def test_fast_one_sample_t_equals_scipy():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        for _ in range(20):
            d = list(rng.normal(-0.3, 1.0, n))
            for direction in ("less", "greater"):
                assert vd.one_sample_t_p(d, direction) == pytest.approx(
                    stats.ttest_1samp(d, 0.0, alternative=direction).pvalue, rel=1e-9, abs=1e-15)


def test_one_seed_figures_match_the_closed_form():
    # one seed: the tolerance alone decides, the difference of two runs is N(-drop, 2 sd^2)
    sd, tol = 0.6, 1.0
    sim = cal.Simulator(85.0, sd, 50.0, reps=2000)
    expected = tol + NormalDist().inv_cdf(cal.POWER) * math.sqrt(2) * sd
    assert sim.detectable_drop(1, tol) == pytest.approx(expected, abs=0.1)
    assert sim.false_alarm(1, tol) == pytest.approx(NormalDist().cdf(-tol / (math.sqrt(2) * sd)), abs=0.015)


@pytest.mark.parametrize("sd,tol", [(0.3, 0.5), (1.5, 2.0)])
def test_detectable_drop_is_caught_in_an_independent_simulation(sd, tol):
    sim = cal.Simulator(85.0, sd, 50.0, reps=REPS)
    d = sim.detectable_drop(3, tol)
    assert d > tol
    assert _judge_rate(85.0, sd, 50.0, tol, 3, d) >= 0.75          # reported size: caught >= 75%
    assert _judge_rate(85.0, sd, 50.0, tol, 3, 0.7 * d) < 0.8      # and the figure is not loose
    fa = sim.false_alarm(3, tol)
    assert _judge_rate(85.0, sd, 50.0, tol, 3, 0.0) <= fa + 0.02


def test_false_alarms_include_the_per_seed_guard_and_follow_the_rule(monkeypatch):
    # noise twice the tolerance: the guard (one seed 4 x tolerance down) fires on noise; the figure shows it
    sim = cal.Simulator(85.0, 2.0, 50.0, reps=REPS)
    fa = sim.false_alarm(3, 1.0)
    assert fa > 0.1
    assert abs(_judge_rate(85.0, 2.0, 50.0, 1.0, 3, 0.0) - fa) < 0.04
    monkeypatch.setattr(vd, "SEED_GUARD_K", 1e9)        # the rule changes: the figure changes with it
    assert cal.Simulator(85.0, 2.0, 50.0, reps=REPS).false_alarm(3, 1.0) < fa / 2


def test_drops_to_the_floor_are_caught_as_degenerate():
    # a case just above its floor: most of a 3-point drop lands at the floor, which the gate fails outright
    rates = cal.gate_rates(55.0, 0.5, 50.0, 2.0, 1, 3.0, reps=400)
    assert rates["fail"] > 0.9 and rates["regression"] < rates["fail"]


def test_figures_are_reproducible():
    a = cal.Simulator(85.0, 0.8, 50.0, reps=500)
    b = cal.Simulator(85.0, 0.8, 50.0, reps=500)
    assert a.detectable_drop(3, 1.0) == b.detectable_drop(3, 1.0)
    assert a.false_alarm(3, 1.0) == b.false_alarm(3, 1.0)


def test_recommended_design_meets_the_target_in_an_independent_simulation():
    sim = cal.Simulator(85.0, 1.0, 50.0, reps=REPS)
    n, tol = sim.recommend(2.0)
    assert n is not None and 0 < tol < 2.0
    assert _judge_rate(85.0, 1.0, 50.0, tol, n, 2.0) >= 0.75
    assert _judge_rate(85.0, 1.0, 50.0, tol, n, 0.0) <= cal.FALSE_ALARM_TARGET + 0.02
    # one seed fewer cannot do it: no tolerance keeps 80% power at <= 5% false alarms
    m = n - 1
    if m >= 1 and sim.rate(2.0, m, 0.0) >= cal.POWER:
        lo = 0.0
        for t in np.arange(0.0, 2.0, 0.05):
            if sim.rate(2.0, m, float(t)) >= cal.POWER:
                lo = float(t)
        assert sim.false_alarm(m, lo) > cal.FALSE_ALARM_TARGET


def test_unreachable_target_says_so():
    c = cal.calibrate_values(KEY, "accuracy", [80.0, 86.0, 74.0, 83.0, 77.0], 50.0, 1.0, 1, 0.5, reps=200)
    assert c.recommended_seeds is None and any("no design" in n for n in c.notes)


# --- the noise block in the baseline file -----------------------------------------------------------------

def test_noise_block_is_written_and_keeps_every_other_field(tmp_path):
    path = file_with_entry(tmp_path, tolerance=1.0)
    before = json.loads(path.read_text())["entries"][KEY]
    c = calibration()
    written, refused = bl.set_noise(path, {KEY: c.noise_block(), "rte/full@tiny": c.noise_block()})
    assert written == [KEY] and len(refused) == 1 and "no baseline entry" in refused[0]
    after = json.loads(path.read_text())["entries"][KEY]
    assert {k: v for k, v in after.items() if k != "noise"} == before
    assert after["noise"]["detectable_drop"] == c.detectable_drop and after["noise"]["n_seeds"] == 5
    assert bl.load(path)["entries"][KEY]["noise"]["sd"] == pytest.approx(statistics.stdev(c.values), abs=1e-4)


def test_broken_noise_block_is_never_written(tmp_path):
    path = file_with_entry(tmp_path)
    text = path.read_text()
    written, refused = bl.set_noise(path, {KEY: {**calibration().noise_block(), "false_alarm": 2.0}})
    assert written == [] and "false_alarm" in refused[0]
    assert path.read_text() == text


def test_verdict_names_the_detectable_drop_only_for_its_design(tmp_path):
    path = file_with_entry(tmp_path, tolerance=1.0)
    c = calibration()
    bl.set_noise(path, {KEY: c.noise_block()})
    entry = bl.load(path)["entries"][KEY]
    v = vd.judge(make_result((79.5,)), entry, vd.Policy(tolerance=2.0))
    assert v.status == "pass" and v.detectable == c.detectable_drop
    assert f"this gate detects drops >= {c.detectable_drop:.2f} points here" in v.message
    assert vd.Verdict.from_dict(v.to_dict()).detectable == v.detectable
    # another tolerance (command line) or another seed count: the figure does not describe this gate
    assert vd.judge(make_result((79.5,)), entry, vd.Policy(2.0, tolerance_override=0.5)).detectable is None
    assert vd.judge(make_result((79.5, 80.0)), entry, vd.Policy(2.0)).detectable is None
    plain = dict(entry)
    plain.pop("noise")
    v0 = vd.judge(make_result((79.5,)), plain, vd.Policy(tolerance=2.0))
    assert "detects drops" not in v0.message and v0.message == v.message.split("; this gate detects")[0]


def test_baselines_show_displays_the_detectable_drop(tmp_path, monkeypatch):
    path = file_with_entry(tmp_path, tolerance=1.0)
    path.rename(tmp_path / "smoke.json")
    assert "detectable" not in cli.baselines_show("smoke", tmp_path)
    bl.set_noise(tmp_path / "smoke.json", {KEY: calibration().noise_block()})
    text = cli.baselines_show("smoke", tmp_path)
    assert "detectable drop (80%)" in text and f"| {KEY} |" in text.split("calibrated noise")[1]


# --- command line --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,needle", [
    (["--seeds", "1"], "needs at least 2 seeds to estimate noise"),
    (["--seeds", "two"], "--seeds takes a number of seeds"),
    (["--detect", "abc"], "--detect takes the drop to detect"),
    (["--detect", "-1"], "--detect takes the drop to detect"),
    (["--detect", "nan"], "--detect takes the drop to detect"),
    (["--profile", "smok"], "Unknown profile 'smok'"),
    (["--tasks", "sst3"], "Unknown task 'sst3'"),
    (["--methods", "seq_bm"], "Unknown method"),
    (["--out", "/"], "is a folder; name a .json file"),
])
def test_cli_mistakes_end_in_one_line(argv, needle, capsys):
    assert main(["calibrate", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_calibrate_command_writes_figures_and_noise_blocks(tmp_path, monkeypatch, capsys):
    """The command end to end, with the training replaced by fixed per-seed values (the statistics are the
    subject here; the engine has its own tests)."""
    from suite.session.bench import BenchSession

    prof = get_profile("smoke")
    seeds_seen = []

    def fake_run(self, case, log=None):
        seeds_seen.append(case.seeds)
        values = {s: 70.0 + 0.7 * math.sin(3 * s + len(case.method)) for s in case.seeds}
        runs = [RunResult(task=case.task, method=case.method, seed=s, metrics={"accuracy": v,
                "accuracy_m": v, "accuracy_mm": v}) for s, v in values.items()]
        metric = "accuracy" if case.task == "sst2" else "accuracy_m"
        return CaseResult(key=case.key, task=case.task, method=case.method, profile=case.profile,
                          primary_metric=metric, config=case.config(), config_hash=case.config_hash, runs=runs,
                          data_fingerprint="fp", floor={metric: 50.0},
                          provenance={"versions": {}, "hardware": {"fingerprint": "x"}, "date": "d", "git": {}})

    monkeypatch.setattr(BenchSession, "run", fake_run)
    # a baseline entry recorded at the profile's seeds for sst2/full only
    base = fake_run(None, cases(prof, tasks=["sst2"])[0])
    bl.update(tmp_path / "smoke.json", "smoke", [base])
    seeds_seen.clear()
    out = tmp_path / "cal.json"
    status = main(["calibrate", "--profile", "smoke", "--tasks", "sst2", "--seeds", "4", "--out", str(out),
                   "--write-baselines", "--baselines-dir", str(tmp_path)])
    text = capsys.readouterr().out
    assert status == 0 and seeds_seen == [(0, 1, 2, 3), (0, 1, 2, 3)]
    assert "| sst2/full@minilm |" in text and "noise figures written for sst2/full@minilm" in text
    assert "sst2/seq_bn@minilm (no baseline entry" in text
    figures = json.loads(out.read_text())
    assert [c["key"] for c in figures["cases"]] == ["sst2/full@minilm", "sst2/seq_bn@minilm"]
    noise = bl.load(tmp_path / "smoke.json")["entries"]["sst2/full@minilm"]["noise"]
    assert noise["n_seeds"] == 4 and noise["at_seeds"] == 1 and noise["at_tolerance"] == prof.tolerance
    assert noise["detectable_drop"] == figures["cases"][0]["detectable_drop"]
    assert figures["cases"][0]["data_fingerprint"] == "fp"

    # --from-json: the same figures into a fresh copy of the file without retraining; only where config and data match
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    bl.update(fresh / "smoke.json", "smoke", [base])
    before = (fresh / "smoke.json").read_text()
    assert main(["calibrate", "--from-json", str(out), "--baselines-dir", str(fresh)]) == 2  # needs --write-baselines
    assert "add --write-baselines" in capsys.readouterr().err and (fresh / "smoke.json").read_text() == before
    # exit 1: one case (seq_bn, no entry) was not written
    assert main(["calibrate", "--from-json", str(out), "--write-baselines", "--baselines-dir", str(fresh)]) == 1
    text = capsys.readouterr().out
    assert "noise figures written for sst2/full@minilm" in text and "NOT written for sst2/seq_bn@minilm" in text
    assert bl.load(fresh / "smoke.json")["entries"]["sst2/full@minilm"]["noise"] == {
        **noise, "measured": noise["measured"]}
    other = json.loads(out.read_text())
    other["cases"][0]["data_fingerprint"], other["cases"][0]["entry_matches"] = "other", False
    (tmp_path / "other.json").write_text(json.dumps(other))
    fresh2 = tmp_path / "fresh2"
    fresh2.mkdir()
    bl.update(fresh2 / "smoke.json", "smoke", [base])
    main(["calibrate", "--from-json", str(tmp_path / "other.json"), "--write-baselines", "--baselines-dir",
          str(fresh2)])
    assert "not measured on the entry's data" in capsys.readouterr().out
    assert "noise" not in bl.load(fresh2 / "smoke.json")["entries"]["sst2/full@minilm"]


def test_simulate_refuses_options_it_would_ignore(capsys):
    assert main(["calibrate", "--simulate", "--out", "x.json"]) == 2
    assert "--simulate prints the adaptive-seeds benchmark only" in capsys.readouterr().err


@pytest.mark.parametrize("content", ['{"profile":"smoke","cases":[{"key":1}]}',
                                     '{"profile":"smoke","cases":[{"key":"a","values":null,"sd":1,"false_alarm":0,'
                                     '"tolerance":1}]}',
                                     '{"profile":"smoke","cases":[{"key":"a","values":[1,2],"sd":"abc",'
                                     '"false_alarm":0,"tolerance":1}]}'])
def test_from_json_refuses_malformed_cases_in_one_line(tmp_path, content, capsys):
    f = tmp_path / "bad.json"
    f.write_text(content)
    assert main(["calibrate", "--from-json", str(f), "--write-baselines", "--baselines-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not one written by --out" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
