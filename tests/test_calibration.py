"""Issue 17: measured gate power (suite/gate/calibration.py). The calibration's figures are checked against closed
forms and against simulations that share none of its code (own RNG, own construction of results and entries); the
noise block in the baseline file. (`python -m suite calibrate`: tests/test_commands.py.)"""

import json
import math
import statistics
from statistics import NormalDist

import numpy as np
import pytest
from factories import KEY, baseline_of, calibration, file_with_entry, make_result

from suite.config.profiles import get_profile
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
    # noise twice the tolerance: the guard, set from the noise, keeps the false alarms near 5%; the figure is the
    # rule's own and follows it when the rule changes
    sim = cal.Simulator(85.0, 2.0, 50.0, reps=REPS)
    fa = sim.false_alarm(3, 1.0)
    assert fa <= 0.05 + 0.02
    assert abs(_judge_rate(85.0, 2.0, 50.0, 1.0, 3, 0.0) - fa) < 0.04
    monkeypatch.setattr(vd, "GUARD_ALPHA", 0.5)        # the rule changes: the figure changes with it
    assert cal.Simulator(85.0, 2.0, 50.0, reps=REPS).false_alarm(3, 1.0) > fa + 0.1


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
    assert "detects drops" not in v0.message and "no seed-noise estimate" in v0.message
    assert "against calibrated noise" in v.message  # the block's noise tests even one seed


def test_detectable_drop_only_where_the_design_keeps_false_alarms_at_5_percent():
    """Issue 22: "detectable drop 1.97 points" was printed for a design with 69% false alarms. Now such a
    design says it cannot detect at an acceptable rate and names the design that can."""
    e = baseline_of([80.0])
    e["noise"] = {"sd": 6.77, "n_seeds": 5, "detectable_drop": 1.97, "false_alarm": 0.69, "at_seeds": 1,
                  "at_tolerance": 2.0, "recommended_seeds": 6, "recommended_tolerance": 4.5}
    v = vd.judge(make_result((79.5,)), e, vd.Policy(tolerance=2.0))
    assert v.detectable is None and "1.97" not in v.message
    assert "cannot detect a drop at an acceptable false-alarm rate here" in v.message
    assert "6 seeds at tolerance 4.50 can" in v.message
    e["noise"]["false_alarm"] = 0.04
    assert vd.judge(make_result((79.5,)), e, vd.Policy(tolerance=2.0)).detectable == 1.97


def test_recompute_refreshes_stored_figures_from_the_stored_values_and_changes_nothing_measured(tmp_path,
                                                                                                 monkeypatch):
    """A noise block written under an older rule: ``calibrate --recompute --write-baselines`` recomputes its
    figures from the per-seed values it stores (no training), as the current rule judges, and touches nothing
    measured (the entry, the block's values, sd, date and config hash)."""
    from suite.__main__ import main

    monkeypatch.setattr(cal, "REPS", 150)
    path = file_with_entry(tmp_path, tolerance=1.0)
    c = calibration()
    stale = {**c.noise_block(), "detectable_drop": 9.99, "false_alarm": 0.4, "recommended_seeds": 7,
             "measured": "2026-01-01T00:00:00+00:00"}
    bl.set_noise(path, {KEY: stale})
    before = json.loads(path.read_text())["entries"][KEY]
    assert main(["calibrate", "--profile", "unit", "--recompute", "--write-baselines",
                 "--baselines-dir", str(tmp_path)]) == 0
    after = json.loads(path.read_text())["entries"][KEY]
    assert {k: v for k, v in after.items() if k != "noise"} == {k: v for k, v in before.items() if k != "noise"}
    fresh = cal.calibrate_values(KEY, "accuracy", c.values, 50.0, 1.0, len(get_profile("unit").seeds), 2.0,
                                 reps=150)
    for k in ("values", "sd", "n_seeds", "measured", "config_hash"):
        assert after["noise"][k] == before["noise"][k], k
    for k in ("detectable_drop", "recommended_seeds", "recommended_tolerance"):
        assert after["noise"][k] == getattr(fresh, k), k
    assert after["noise"]["false_alarm"] == round(fresh.false_alarm, 4) and after["noise"]["recomputed"]
    # a block without stored values cannot be recomputed: said, exit 1, nothing written
    bl.set_noise(path, {KEY: {"values": [80.0]}})
    text = path.read_text()
    assert main(["calibrate", "--profile", "unit", "--recompute", "--write-baselines",
                 "--baselines-dir", str(tmp_path)]) == 1
    assert path.read_text() == text


def test_the_table_shows_no_detectable_drop_where_the_design_cries_wolf():
    """Issue 22 item 8: a design failing more than 5% of unchanged runs has no detectable drop to print."""
    loud = cal.Calibration("rte/seq_bn@minilm", "accuracy", [52.0, 55.0, 49.0], [0, 1, 2], 52.7, 3.0, 1, 6.0,
                           sd=3.0, detectable_drop=0.0, false_alarm=0.931)
    quiet = cal.Calibration("sst2/full@minilm", "accuracy", [82.0, 83.0, 81.5], [0, 1, 2], 50.9, 1.5, 1, 3.0,
                            sd=0.76, detectable_drop=4.45, false_alarm=0.014)
    text = cal.render("quick", [loud, quiet], 3)
    assert "| 1 | - | 93.1% |" in text and "| 1 | 4.45 | 1.4% |" in text
    assert "rte/seq_bn@minilm: no detectable drop: at 1 seed(s) and tolerance 3.00 the gate fails 93.1%" in text


@pytest.mark.parametrize("false_alarm", [None, math.nan])
def test_the_table_shows_no_detectable_drop_where_the_false_alarms_are_unknown(false_alarm):
    """A drop is "detectable" only at a known false-alarm rate: unknown (None, NaN) prints no drop and no "nan%"."""
    c = cal.Calibration("sst2/full@minilm", "accuracy", [82.0, 83.0, 81.5], [0, 1, 2], 50.9, 1.5, 1, 3.0,
                        sd=0.76, detectable_drop=4.45, false_alarm=false_alarm)
    text = cal.render("quick", [c], 3)
    assert "| 1 | - | - |" in text and "4.45" not in text and "nan" not in text
    assert "sst2/full@minilm: no detectable drop: the gate's false-alarm rate at 1 seed(s) is not known" in text


def test_a_design_of_absurdly_many_seeds_is_refused_not_simulated():
    """at_seeds comes from a file too (calibrate --from-json): 10**6 seeds would allocate 45 GiB of draws."""
    from suite.errors import SuiteError

    for at_seeds in (0, cal.MAX_GATE_SEEDS + 1, 10**6):
        with pytest.raises(SuiteError, match=f"1 to {cal.MAX_GATE_SEEDS} seeds; got {at_seeds}"):
            cal.calibrate_values("sst2/full@minilm", "accuracy", [70.0, 71.0], 50.0, 1.0, at_seeds, 2.0)


@pytest.mark.parametrize("over, needle", [({}, None), ({"key": "mnli/seq_bn@minilm", "metric": "accuracy_m"}, None),
                                          ({"key": "mnli/seq_bn@minilm"}, "not the one mnli is gated on (accuracy_m)"),
                                          ({"values": [1, True]}, "not of type 'number'"),
                                          ({"floor": 101.0}, "floor: 101.0 is outside 0..100"),
                                          ({"key": "sst2/full@minilm\x1b[2J"}, "control characters"),
                                          ({"detect_target": 250.0}, "beyond the metric's range")])
def test_case_problem_checks_what_the_schema_cannot(over, needle):
    case = {"key": "sst2/full@minilm", "metric": "accuracy", "values": [70.0, 71.0], "floor": 50.0,
            "tolerance": 1.0, "at_seeds": 1, "sd": 0.7, "false_alarm": 0.01, **over}
    problem = cal.case_problem(case)
    assert (problem is None) if needle is None else (needle in problem), problem
