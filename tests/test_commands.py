"""The subcommands of `python -m suite` (suite/commands/): run, report, baselines, calibrate, history and perf,
called in process (``main([...])`` or the command's functions) or, marked e2e, in a subprocess. What a command
computes is tested with its module (gate, store, report, tools); here: arguments, output, files and exit status."""

import json
import math
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from factories import (
    KEY,
    RESULTS,
    calibration,
    commit_sha,
    dated_result,
    file_with_entry,
    handwritten_results_file,
    make_result,
    record_history,
    results_file,
    two_model_results_files,
)
from helpers import ROOT, clean_env

from suite.__main__ import main
from suite.commands import baselines as cli
from suite.config.profiles import cases, get_profile
from suite.engine.results import CaseResult, RunResult
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import calibration as cal
from suite.store import history as hi

# --- run ----------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_suite_run_exits_1_on_a_failing_verdict_with_the_same_lines(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "suite", "run", "--model", "tiny", "--tasks", "sst2", "--methods",
                           "head_only", "--baselines-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**clean_env(), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "sst2/head_only@tiny: degenerate:" in proc.stdout and "Traceback" not in proc.stderr


# --- report -------------------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_report_cli(tmp_path):
    import sys

    from helpers import ROOT

    f = results_file(tmp_path / "r.json", RESULTS)
    out = subprocess.run([sys.executable, "-m", "suite", "report", str(f), "--out", str(tmp_path / "rep")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stdout and (tmp_path / "rep" / "report.html").exists()


@pytest.mark.e2e
def test_report_merge_judges_the_gap_gate_across_shards(tmp_path):
    """Under shards, the gap gate is judged where all results are: `report merge --max-gap` sets the exit status."""
    import sys

    from helpers import ROOT

    a = results_file(tmp_path / "a.json", RESULTS[:1], shard=(1, 2))   # full fine-tuning on one runner
    b = results_file(tmp_path / "b.json", RESULTS[1:2], shard=(2, 2))  # seq_bn on another: trails by 1.25

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "suite", "report", "merge", str(a), str(b), "--out",
                               str(tmp_path / "rep"), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
    passed = run("--max-gap", "2")
    assert passed.returncode == 0
    # a gate that says nothing reads as one that did not run: it says it passed, in the report too
    assert "gap gate passed (--max-gap 2.00): 1 adapter case within it" in passed.stdout
    assert passed.stdout.rstrip().endswith("the merged run passes")
    assert "gap gate passed (--max-gap 2.00)" in (tmp_path / "rep" / "report.md").read_text()
    failed = run("--max-gap", "1")
    assert failed.returncode == 1 and "trails full fine-tuning by 1.25 points" in failed.stdout
    assert "no seed-noise estimate: --max-gap alone decides" in failed.stdout
    # the failure is the last line, and it is in report.md and report.html, not only in the middle of the output
    assert failed.stdout.rstrip().splitlines()[-1] == "FAILED: 1 adapter case beyond --max-gap (details above)"
    for page in ("report.md", "report.html"):
        assert "gap gate FAILED (--max-gap 1.00)" in (tmp_path / "rep" / page).read_text()
    alone = subprocess.run([sys.executable, "-m", "suite", "report", str(b), "--out", str(tmp_path / "rep2"),
                            "--max-gap", "5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    # no reference (and shard 1/2 missing): never a silent pass
    assert alone.returncode == 2 and "Shard 1/2 missing" in alone.stderr
    alone = subprocess.run([sys.executable, "-m", "suite", "report", str(b), "--out", str(tmp_path / "rep2"),
                            "--max-gap", "5", "--allow-partial"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert alone.returncode == 2 and "'full' is not among the methods" in alone.stderr


@pytest.mark.e2e
def test_report_max_gap_given_empty_is_an_error_not_off(tmp_path):
    import sys

    from helpers import ROOT
    out = subprocess.run([sys.executable, "-m", "suite", "report", str(tmp_path / "x.json"), "--out",
                          str(tmp_path / "rep"), "--max-gap", ""], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "--max-gap must be a number of points" in out.stderr


# --- baselines ----------------------------------------------------------------------------------------------

def test_baselines_show_of_a_missing_folder_is_an_error(tmp_path):
    from suite.commands import baselines as cli
    from suite.errors import SuiteError

    with pytest.raises(SuiteError, match="does not exist"):
        cli.baselines_show("smoke", tmp_path / "nope")
    assert "no entries" in cli.baselines_show("smoke", tmp_path)  # an existing empty folder: nothing recorded yet


def test_baselines_show_displays_the_detectable_drop(tmp_path, monkeypatch):
    path = file_with_entry(tmp_path, tolerance=1.0)
    path.rename(tmp_path / "smoke.json")
    assert "detectable" not in cli.baselines_show("smoke", tmp_path)
    bl.set_noise(tmp_path / "smoke.json", {KEY: calibration().noise_block()})
    text = cli.baselines_show("smoke", tmp_path)
    assert "detectable drop (80%)" in text and f"| {KEY} |" in text.split("calibrated noise")[1]


def test_baselines_show_has_no_sd_for_one_seed_and_explains_an_unknown_commit(tmp_path):
    path = file_with_entry(tmp_path)  # one seed, commit "abc"
    path.rename(tmp_path / "smoke.json")
    [row] = [line for line in cli.baselines_show("smoke", tmp_path).splitlines() if line.startswith(f"| {KEY} |")]
    assert row.split(" | ")[3:5] == ["-", "1"]  # sd "-" where n is 1, never "0.00"
    assert "commit ?" not in cli.baselines_show("smoke", tmp_path)
    data = json.loads((tmp_path / "smoke.json").read_text())
    data["entries"][KEY].update(sd=0.5, n=3, values=[79.5, 80.0, 80.5])
    data["entries"][KEY]["provenance"].update(git_commit=None, seeds=[0, 1, 2])
    (tmp_path / "smoke.json").write_text(json.dumps(data))
    text = cli.baselines_show("smoke", tmp_path)
    [row] = [line for line in text.splitlines() if line.startswith(f"| {KEY} |")]
    assert row.split(" | ")[3:5] == ["0.50", "3"] and row.endswith("| ? |")
    assert "commit ?: recorded outside a git checkout" in text


def test_baselines_diff_reads_like_a_review(tmp_path):
    path = tmp_path / "unit.json"
    key = bl.entry_key(make_result())
    bl.write_atomic(path, {"entries": {key: bl.entry_from_result(make_result((80.0,))),
                                       "mnli/full@tiny": {"metric": "accuracy", "mean": 70.0}}})
    res = tmp_path / "results.json"
    doc = {"profile": "unit", "cases": [make_result((81.0,)).to_dict(),
                                        make_result((60.0,), key_method="full").to_dict(),
                                        make_result(status="failed", key_method="seq_bn[reduction_factor=2]").to_dict(),
                                        make_result((50.0,), key_method="lora").to_dict()]}
    res.write_text(json.dumps(doc))
    text, kinds = cli.baselines_diff(res, tmp_path)
    assert kinds == {key: "changed", "sst2/full@tiny": "new", "sst2/seq_bn[reduction_factor=2]@tiny": "refused",
                     "sst2/lora@tiny": "refused"}
    assert "accuracy 80.00 -> 81.00 (+1.00)" in text and "untouched: mnli/full@tiny" in text
    assert "would NOT be written" in text and "degenerate" in text


def test_baselines_update_from_results_files_applies_the_same_checks(tmp_path):
    """`python -m suite baselines update RESULTS.json...` records entries (e.g. from GPU shards) and refuses what
    --update-baselines refuses: failed and degenerate runs."""
    res = tmp_path / "results.json"
    good, dead = make_result((81.0,)), make_result((50.0,), key_method="lora")
    failed = make_result(status="failed", key_method="full")
    for r in (good, dead, failed):
        r.profile = "smoke"  # a case is of its file's profile
    res.write_text(json.dumps({"profile": "smoke", "cases": [good.to_dict(), dead.to_dict(), failed.to_dict()]}))
    text, refused = cli.baselines_update([res], tmp_path)
    entries = bl.load(tmp_path / "smoke.json")["entries"]
    assert set(entries) == {bl.entry_key(good)} and entries[bl.entry_key(good)]["mean"] == 81.0
    assert refused == 2 and "degenerate" in text and "NOT updated for sst2/full@tiny" in text


# --- calibrate ----------------------------------------------------------------------------------------------

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
def test_calibrate_mistakes_end_in_one_line(argv, needle, capsys):
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
    assert "its data fingerprint differs" in capsys.readouterr().out
    assert "noise" not in bl.load(fresh2 / "smoke.json")["entries"]["sst2/full@minilm"]


def test_from_json_recomputes_figures_of_an_earlier_rule(tmp_path, capsys):
    """An --out file written under an earlier rule (its detectable drop and false alarms no longer what the gate
    does): --from-json stores the figures recomputed from its per-seed values, never the stale ones, and --out
    rewrites the file with them, the measurement (values, seeds, date, config hash) kept."""
    values = [71.4, 59.4, 66.8, 59.2, 74.0]
    stale = {"key": "sst2/full@minilm", "metric": "accuracy", "values": values, "seeds": [0, 1, 2, 3, 4],
             "floor": 52.4, "tolerance": 2.0, "at_seeds": 1, "detect_target": 4.0, "sd": 6.77,
             "detectable_drop": 9.68, "false_alarm": 0.4155, "recommended_seeds": None, "recommended_tolerance": None,
             "config_hash": "abc", "measured": "2026-11-29T13:47:08+00:00", "notes": [], "error": None,
             "entry_matches": True}
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"profile": "smoke", "seeds": 5, "cases": [stale]}))
    fresh = cal.calibrate_values(stale["key"], "accuracy", values, 52.4, 2.0, 1, 4.0)
    assert (fresh.detectable_drop, fresh.false_alarm) != (9.68, 0.4155)   # the rule changed since
    new = tmp_path / "new.json"
    assert main(["calibrate", "--from-json", str(old), "--out", str(new)]) == 0
    assert "recomputed from the per-seed values" in capsys.readouterr().out
    [case] = json.loads(new.read_text())["cases"]
    assert (case["detectable_drop"], case["false_alarm"]) == (fresh.detectable_drop, fresh.false_alarm)
    assert {k: case[k] for k in ("values", "seeds", "measured", "config_hash", "entry_matches")} == {
        k: stale[k] for k in ("values", "seeds", "measured", "config_hash", "entry_matches")}
    # into the baselines: the recomputed figures
    entry = {"mean": 66.16, "sd": 6.77, "n": 1, "metric": "accuracy", "floor": 52.4, "config_hash": "abc",
             "values": [71.4], "provenance": {"seeds": [0]}}
    (tmp_path / "smoke.json").write_text(json.dumps({"schema": 1, "profile": "smoke",
                                                     "entries": {stale["key"]: entry}}))
    status = main(["calibrate", "--from-json", str(old), "--write-baselines", "--baselines-dir", str(tmp_path)])
    assert status == 0, capsys.readouterr()
    noise = bl.load(tmp_path / "smoke.json")["entries"][stale["key"]]["noise"]
    assert (noise["detectable_drop"], noise["false_alarm"]) == (fresh.detectable_drop, round(fresh.false_alarm, 4))
    assert noise["measured"] == stale["measured"]


def test_simulate_mode_prints_both_numbers(capsys, monkeypatch):
    from suite.__main__ import main

    monkeypatch.setattr(cal, "REPS", 150)

    assert main(["calibrate", "--simulate", "--profile", "paper"]) == 0
    out = capsys.readouterr().out
    assert "fewer seed-runs on unchanged code" in out and "drops of 2 x detectable caught" in out


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



def _stored_case(**over):
    """One case as ``calibrate --out`` writes it (the values of docs/calibration-smoke.json), fields overridden."""
    case = {"key": "sst2/full@minilm", "metric": "accuracy", "values": [71.4, 59.4, 66.8, 59.2, 74.0],
            "seeds": [0, 1, 2, 3, 4], "floor": 52.4, "tolerance": 2.0, "at_seeds": 1, "detect_target": 4.0,
            "sd": 6.77, "detectable_drop": 9.68, "false_alarm": 0.4155, "recommended_seeds": None,
            "recommended_tolerance": None, "config_hash": "abc", "measured": "2026-11-29T13:47:08+00:00",
            "notes": [], "error": None, "entry_matches": True}
    return {**case, **over}


@pytest.mark.parametrize("over, needle", [
    ({"values": [True, False, True]}, "True is not of type 'number'"),   # bool is an int in Python
    ({"values": [150.0, 160.0]}, "values/0: 150.0 is outside 0..100"),
    ({"values": [1e17, 2e17]}, "outside 0..100"),        # simulated for minutes before
    ({"tolerance": -1.0}, "tolerance: -1.0 is less than the minimum of 0"),
    ({"floor": False}, "floor: False is not of type 'number'"),
    ({"at_seeds": 0}, "at_seeds: 0 is less than the minimum of 1"),   # was silently read as 1
    ({"at_seeds": 2.7}, "at_seeds: 2.7 is not of type 'integer'"),    # was silently cut to 2
    ({"at_seeds": 10**9}, "greater than the maximum of 50"),         # a MemoryError traceback before
    ({"detect_target": 0}, "detect_target: 0 is less than or equal to the minimum of 0"),
    ({"detect_target": -4.0}, "detect_target: -4.0"),
    ({"seeds": [0, 0, 1, 1, 2]}, "non-unique"),
    ({"seeds": [0, 1]}, "2 seeds for 5 values"),
    ({"seeds": ["a", "b", "c", "d", "e"]}, "is not of type 'integer'"),
    ({"metric": "bogus"}, "metric bogus is not the one sst2 is gated on (accuracy)"),
    ({"key": "not-a-key"}, "does not match"),
    ({"key": "nosuchtask/full@minilm"}, "nosuchtask"),
    ({"entry_matches": "false"}, "entry_matches: 'false' is not of type 'boolean'"),   # bool("false") is True
])
def test_from_json_refuses_a_case_it_cannot_recompute_and_writes_nothing(tmp_path, capsys, over, needle):
    """Every field of a stored case is checked before anything is simulated or written: a boolean, a string or an
    out-of-range number is refused in one line, never coerced (at_seeds 0 -> 1, 2.7 -> 2, "false" -> True)."""
    f, out = tmp_path / "cal.json", tmp_path / "new.json"
    f.write_text(json.dumps({"profile": "smoke", "seeds": 5, "cases": [_stored_case(**over)]}))
    assert main(["calibrate", "--from-json", str(f), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not one written by --out" in err and needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("cases_, needle", [([], "no measured case in it"),
                                            ([_stored_case(), _stored_case()], "appears more than once")])
def test_from_json_refuses_a_file_with_no_case_or_a_case_twice(tmp_path, capsys, cases_, needle):
    f, out = tmp_path / "cal.json", tmp_path / "new.json"
    f.write_text(json.dumps({"profile": "smoke", "seeds": 5, "cases": cases_}))
    assert main(["calibrate", "--from-json", str(f), "--out", str(out)]) == 2
    assert needle in capsys.readouterr().err and not out.exists()


def test_from_json_never_writes_its_out_file_over_the_baselines(tmp_path, capsys):
    """--out naming the profile's baselines file (or a link to it) would replace the entries with the figures."""
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"profile": "smoke", "seeds": 5, "cases": [_stored_case()]}))
    entry = {"mean": 66.16, "sd": 6.77, "n": 1, "metric": "accuracy", "floor": 52.4, "config_hash": "abc",
             "values": [71.4], "provenance": {"seeds": [0]}}
    baselines = tmp_path / "smoke.json"
    baselines.write_text(json.dumps({"schema": 2, "profile": "smoke", "entries": {"sst2/full@minilm": entry}}))
    before = baselines.read_text()
    (tmp_path / "link.json").symlink_to(baselines)
    for out in (baselines, tmp_path / "link.json"):
        for more in ([], ["--write-baselines"]):
            argv = ["calibrate", "--from-json", str(f), "--out", str(out), "--baselines-dir", str(tmp_path), *more]
            assert main(argv) == 2
            assert "is the baselines file" in capsys.readouterr().err and baselines.read_text() == before


def test_an_empty_from_json_is_refused_not_read_as_absent(tmp_path, capsys, monkeypatch):
    """--from-json "" once fell through to a full calibration (training every case)."""
    from suite.session.bench import BenchSession

    def no_training(*a, **k):
        raise AssertionError("calibrate --from-json '' trained")

    monkeypatch.setattr(BenchSession, "__init__", no_training)
    assert main(["calibrate", "--from-json", "", "--out", str(tmp_path / "x.json")]) == 2
    assert "--from-json is empty" in capsys.readouterr().err
    assert main(["calibrate", "--from-json", "", "--recompute"]) == 2
    assert "do not apply" in capsys.readouterr().err


def test_from_json_applies_detect(tmp_path, capsys):
    f, out = tmp_path / "cal.json", tmp_path / "new.json"
    f.write_text(json.dumps({"profile": "smoke", "cases": [_stored_case(values=[70.0, 71.0], seeds=[0, 1])]}))
    assert main(["calibrate", "--from-json", str(f), "--out", str(out), "--detect", "1.5"]) == 0
    [case] = json.loads(out.read_text())["cases"]
    assert case["detect_target"] == 1.5

# --- history ------------------------------------------------------------------------------------------------

def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_history_show_plot_blame_import(tmp_path, capsys):
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


def test_history_show_of_one_one_seed_run_claims_no_spread(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    hi.append(db, [dated_result(90.0, day=0, seeds=(0,))])
    code, out, _ = _cli(capsys, "history", "show", "--history", str(db))
    assert code == 0 and "(profile smoke, accuracy, 1 run)" in out and "1 runs" not in out
    assert "| 90.00 ± - | 1 |" in out and "± 0.00" not in out


def test_report_merge_and_history_keep_two_models_apart(tmp_path, capsys):
    """One case identity, task/method@model: MiniLM's shard (an older file, keys without the model) merged with the
    tiny model's keeps its recorded verdicts, each note is printed once, the header names both models, and the
    history keeps one series per model."""
    minilm, tiny = two_model_results_files(tmp_path)
    code, out, err = _cli(capsys, "report", "merge", str(minilm), str(tiny), "--out", str(tmp_path / "rep"))
    assert code == 1 and err == ""  # the tiny model's cases are degenerate, MiniLM's are not
    head, *lines = out.splitlines()
    assert "models minilm, tiny," in head and "model minilm," not in head
    table = {tuple(line.split()[:2]): line.split() for line in lines if line.startswith("sst2 ")}
    assert set(table) == {("sst2", f"{m}@{model}") for m in ("full", "seq_bn") for model in ("minilm", "tiny")}
    for m in ("full", "seq_bn"):
        assert "pass" in table[("sst2", f"{m}@minilm")] and "69.80" in table[("sst2", f"{m}@minilm")]
        assert "degenerate" in table[("sst2", f"{m}@tiny")]
        assert out.count(f"sst2/{m}@tiny: degenerate:") == 1
    assert "@minilm: degenerate" not in out and "verdicts: 2 degenerate, 2 pass" in out
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "models `minilm`, `tiny`" in md and "| sst2 | seq_bn@minilm | accuracy | 70.00 | 69.80 |" in md

    db = tmp_path / "h.sqlite"
    code, out, err = _cli(capsys, "history", "import", str(minilm), str(tiny), "--history", str(db))
    assert code == 0 and out.count("2 new record(s)") == 2
    assert sorted(k for _, k in hi.load(db)) == ["sst2/full@minilm", "sst2/full@tiny", "sst2/seq_bn@minilm",
                                                 "sst2/seq_bn@tiny"]
    code, out, err = _cli(capsys, "history", "show", "--history", str(db), "--case", "sst2/seq_bn")
    assert code == 0 and "sst2/seq_bn@minilm (profile smoke, accuracy, 1 run)" in out
    assert "sst2/seq_bn@tiny (profile smoke, accuracy, 1 run)" in out and "CHANGE POINT" not in out
    code, out, err = _cli(capsys, "history", "plot", "--history", str(db), "--case", "sst2/seq_bn@tiny",
                          "--out", str(tmp_path / "plots"))
    assert code == 0 and [p.name for p in (tmp_path / "plots").iterdir()] == ["history-smoke-sst2_seq_bn_tiny.png"]


def test_history_check_fails_a_drop_and_never_passes_a_case_it_could_not_check(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    # three runs make drift's reference (their median, 90.00), the fourth is 2 points below it
    *before, now = (handwritten_results_file(tmp_path / f"{n}.json", [dated_result(m, day=d)], schema=2)
                    for n, m, d in (("a", 90.0, 1), ("b", 90.2, 2), ("c", 89.8, 3), ("now", 88.0, 8)))
    other = handwritten_results_file(tmp_path / "other.json", [dated_result(80.0, day=8, key="mnli/full")], schema=2)
    assert _cli(capsys, "history", "import", *map(str, before), "--history", str(db))[0] == 0
    code, out, err = _cli(capsys, "history", "check", str(other), "--history", str(db), "--max-drift", "1")
    assert code == 1 and "mnli/full@tiny: not in the history" in out and "import the results first" in out
    assert _cli(capsys, "history", "import", str(now), "--history", str(db))[0] == 0
    code, out, err = _cli(capsys, "history", "check", str(now), "--history", str(db), "--max-drift", "1")
    assert code == 1 and out.startswith("history gates (--max-drift 1.00) on 1 case(s), 4 run(s) each")
    assert "sst2/seq_bn@tiny: accuracy 88.00 is 2.00 points below the reference 90.00" in out
    code, out, err = _cli(capsys, "history", "check", str(now), "--history", str(db), "--max-drift", "2.5",
                          "--fail-on-change-point")
    assert code == 0 and out.rstrip().endswith(": passed")
    code, out, err = _cli(capsys, "history", "check", str(now), "--history", str(db))
    assert code == 2 and "name a gate" in err
    code, out, err = _cli(capsys, "history", "check", str(now), "--history", str(tmp_path / "none.sqlite"),
                          "--max-drift", "1")
    assert code == 2 and "No results history" in err  # no history: an error, never a pass


def test_history_ack_accepts_the_step_and_the_change_point_gate_turns_green(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    rng = np.random.default_rng(3)
    record_history(db, [90.0] * 10 + [87.0] * 4, sd=0.2, rng=rng)
    rerun = dated_result(87.0, day=20, sd=0.2, rng=rng)
    assert "python -m suite history ack sst2/seq_bn@tiny --profile smoke" in hi.change_point_for(db, rerun)
    code, out, err = _cli(capsys, "history", "ack", "sst2/seq_bn", "--profile", "smoke", "--note", "intended",
                          "--history", str(db))
    assert code == 0 and "acknowledged" in out and "accepted step -3." in out
    assert hi.change_point_for(db, rerun) is None
    assert hi.case_acks(db, "smoke", "sst2/seq_bn@tiny")[0].note == "intended"
    code, out, err = _cli(capsys, "history", "ack", "nope/none", "--history", str(db))
    assert code != 0 and "nope/none" in err and "Traceback" not in err


@pytest.mark.parametrize("problem", ["missing", "corrupt", "foreign", "empty", "unknown case", "unknown profile",
                                     "missing results", "bad results"])
def test_history_mistakes_are_one_line(tmp_path, capsys, problem):
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


# --- perf ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["--batch-size", "0"], "--batch-size must be a whole number >= 1"),
    (["--epochs", "-1"], "--epochs must be a whole number >= 1"),
    (["--max-length", "0"], "--max-length must be a whole number >= 8"),
    (["--train-size", "x"], "--train-size must be a whole number >= 1"),
    (["--ablate", "--bf16"], "--ablate already measures bf16"),
])
def test_perf_size_mistakes_are_one_line_before_any_training(argv, needle, capsys):
    from suite.__main__ import main

    assert main(["perf", "--model", "tiny", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("mode", [["--recompute"], ["--from-json", "docs/calibration-smoke.json", "--out", "x.json"]])
@pytest.mark.parametrize("option", [["--seeds", "3"], ["--tasks", "sst2"], ["--methods", "full"],
                                    ["--model", "tiny"], ["--glue-dir", "."]])
def test_calibrate_without_training_refuses_options_it_would_ignore(mode, option, capsys):
    assert main(["calibrate", *mode, *option]) == 2
    err = capsys.readouterr().err
    assert f"trains nothing, so {option[0]} would be ignored" in err and len(err.strip().splitlines()) == 1


def test_calibrate_without_training_refuses_a_baselines_dir_that_is_no_folder(tmp_path, capsys):
    a_file = tmp_path / "smoke.json"
    a_file.write_text("{}")
    assert main(["calibrate", "--recompute", "--baselines-dir", str(a_file)]) == 2
    assert "is not a folder" in capsys.readouterr().err
