"""End to end through pytest itself (suite/pytest_plugin.py): selection, gating, the update workflow and option
errors (tiny model)."""

import json

import pytest
from helpers import run_pytest


@pytest.mark.e2e
def test_k_mnli_selects_only_mnli_cases():
    code, out = run_pytest("-k", "mnli", "--collect-only", "-q")
    assert code == 0, out
    ids = [line for line in out.splitlines() if "::test_glue[" in line]
    assert ids == ["benchmarks/test_glue.py::test_glue[mnli-full]", "benchmarks/test_glue.py::test_glue[mnli-seq_bn]"]


@pytest.mark.e2e
def test_method_config_strings_become_cases():
    code, out = run_pytest("--methods", "full,seq_bn[reduction_factor=4]", "--tasks", "sst2", "--collect-only", "-q")
    assert code == 0, out
    assert "test_glue[sst2-seq_bn_reduction_factor=4]" in out and "test_glue[sst2-full]" in out


@pytest.mark.e2e
def test_raised_baseline_fails_that_case_then_update_fixes_it(tmp_path):
    """The maintainer's loop on a model that learns (unit profile): nothing recorded -> skipped (strict: failed),
    record, pass, a raised entry fails exactly its case, an update of that case alone fixes it. The six processes
    share their runs (reuse_runs): what is tested is the baselines and verdicts around them, and every update
    records the same measurement."""
    common = ["--profile", "unit", "--methods", "seq_bn,head_only", "--baselines-dir", str(tmp_path), "-q"]
    path = tmp_path / "unit.json"
    results = tmp_path / "results.json"

    code, out = run_pytest(*common, reuse_runs=True, timeout=1500)  # trains both cases (later calls reuse them)
    assert code == 0 and "2 skipped" in out and "no usable baseline (no baseline entry)" in out, out
    assert "2 no-baseline" in out and "--strict-baselines fails them" in out
    assert not path.exists()  # a run that did not ask to update writes nothing
    code, out = run_pytest(*common, "--strict-baselines", reuse_runs=True)
    assert code == 1 and "2 failed" in out, out

    code, out = run_pytest(*common, "--update-baselines", "--results-json", str(results), reuse_runs=True)
    assert code == 0, out
    data = json.loads(path.read_text())
    assert sorted(data["entries"]) == ["sst2/head_only@minilm", "sst2/seq_bn@minilm"]
    assert all(e["floor"] < e["mean"] for e in data["entries"].values())
    doc = json.loads(results.read_text())
    assert [c["key"] for c in doc["cases"]] == ["sst2/seq_bn@minilm", "sst2/head_only@minilm"]

    code, out = run_pytest(*common, "--strict-baselines", reuse_runs=True)
    assert code == 0 and "2 passed" in out and "2 pass" in out, out

    measured = data["entries"]["sst2/seq_bn@minilm"]["mean"]
    data["entries"]["sst2/seq_bn@minilm"]["mean"] = measured + 10.0
    data["entries"]["sst2/seq_bn@minilm"]["values"] = [measured + 10.0]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    code, out = run_pytest(*common, reuse_runs=True)
    assert code == 1, out
    assert "1 failed, 1 passed" in out
    assert (f"sst2/seq_bn@minilm: regression: accuracy = {measured:.2f}, baseline {measured + 10:.2f}, delta -10.00, "
            "tolerance 2.00") in out

    untouched = json.loads(path.read_text())["entries"]["sst2/head_only@minilm"]
    code, out = run_pytest(*common, "--update-baselines", "-k", "seq_bn", reuse_runs=True)
    assert code == 0, out
    after = json.loads(path.read_text())["entries"]
    assert after["sst2/seq_bn@minilm"]["mean"] == measured
    assert after["sst2/head_only@minilm"] == untouched

    code, out = run_pytest(*common, "--strict-baselines", reuse_runs=True)
    assert code == 0 and "2 passed" in out, out


@pytest.mark.e2e
def test_a_degenerate_run_fails_and_is_never_recorded(tmp_path):
    """The tiny random model learns nothing: it scores its floor, which no baseline may accept."""
    code, out = run_pytest("--model", "tiny", "--tasks", "sst2", "-k", "seq_bn", "--baselines-dir", str(tmp_path),
                           "--update-baselines")
    assert code == 1 and "degenerate" in out and "trivial score" in out, out
    assert "NOT updated for sst2/seq_bn@tiny" in out and not (tmp_path / "smoke.json").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("args, message", [
    (["--profile", "smok"], "Unknown profile 'smok'. Did you mean: smoke?"),
    (["--methods", "full,seqbn"], "Unknown method 'seqbn'"),
    (["--tasks", "sst3"], "Unknown task 'sst3'. Did you mean: sst2"),
    (["--seeds", "0,x"], "Seeds must be integers"),
    (["--tolerance", "-1"], "Tolerance must be a finite number >= 0"),
])
def test_bad_options_give_one_clear_line(args, message):
    code, out = run_pytest(*args, "--collect-only", "-q")
    assert code != 0
    assert message in out
    assert "Traceback" not in out


@pytest.mark.e2e
def test_gap_gate_figures_in_junit_and_benchmark_json(tmp_path):
    junit, bench, results = tmp_path / "junit.xml", tmp_path / "bench.json", tmp_path / "results.json"
    code, out = run_pytest("--profile", "unit", "--baselines-dir", str(tmp_path), "--max-gap", "0",
                           "--junitxml", str(junit), "--benchmark-json", str(bench), "--results-json", str(results),
                           "--report-dir", str(tmp_path / "report"), reuse_runs=True, timeout=1500)
    assert {"report.md", "report.html", "quality_vs_params.png"} <= {p.name for p in (tmp_path / "report").iterdir()}
    assert "report written to" in out
    cases = {c["key"]: c for c in json.loads(results.read_text())["cases"]}
    gap = cases["sst2/seq_bn@minilm"]["gap_vs_full"]
    assert gap == pytest.approx(cases["sst2/seq_bn@minilm"]["verdict"]["measured"]
                                - cases["sst2/full@minilm"]["verdict"]["measured"])
    # --max-gap 0: an adapter that trails full fine-tuning at all fails; full itself has no baseline: skipped
    assert gap < 0 and code == 1 and "1 failed, 1 skipped" in out and "trails full fine-tuning by" in out, out
    assert cases["sst2/seq_bn@minilm"]["speed_vs_full"] > 0

    import xml.etree.ElementTree as ET
    props = {tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}
             for tc in ET.parse(junit).getroot().iter("testcase")}
    assert set(props) == {"test_glue[sst2-full]", "test_glue[sst2-seq_bn]"}
    for p in props.values():
        assert "accuracy" in p and "train_samples_per_s" in p and "trainable_pct" in p
        assert "glue_bench_result" not in p  # the bulky JSON stays out of JUnit
        assert {"verdict", "baseline", "delta", "tolerance", "gap_vs_full"} <= set(p)
    assert float(props["test_glue[sst2-seq_bn]"]["gap_vs_full"]) == pytest.approx(gap, abs=1e-3)
    assert props["test_glue[sst2-full]"]["verdict"] == "no-baseline"
    assert "junit_family" not in out  # xunit1 (pyproject): no warning per record_property

    extra = {b["name"]: b["extra_info"] for b in json.loads(bench.read_text())["benchmarks"]}
    params = {b["name"]: b["params"] for b in json.loads(bench.read_text())["benchmarks"]}
    assert params["test_glue[sst2-seq_bn]"] == {"case": "sst2/seq_bn@minilm"}  # plain, as the xdist controller's
    assert extra["test_glue[sst2-seq_bn]"]["trainable_params"] < extra["test_glue[sst2-full]"]["trainable_params"]
    assert 0 <= extra["test_glue[sst2-full]"]["accuracy"] <= 100
    assert extra["test_glue[sst2-seq_bn]"]["gap_vs_full"] == pytest.approx(gap, abs=1e-3)
    assert (extra["test_glue[sst2-full]"]["verdict"] == "no-baseline"
            and extra["test_glue[sst2-full]"]["baseline"] is None)
    # pytest-benchmark's table: one round per case, so only Mean and Rounds, and a line that says what is timed
    table = out[out.index("benchmark: 2 tests"):]
    assert "Mean" in table and "Rounds" in table and "StdDev" not in table and "IQR" not in table.split("Legend")[0]
    assert "pytest-benchmark's table times one round per case" in out


@pytest.mark.e2e
@pytest.mark.parametrize("expr, expected", [
    ("mnli and adapter", ["mnli-seq_bn"]),
    ("full", ["sst2-full", "mnli-full"]),
    ("not slow", ["sst2-full", "sst2-seq_bn", "mnli-full", "mnli-seq_bn"]),
])
def test_markers_select_cases(expr, expected):
    code, out = run_pytest("-m", expr, "--collect-only", "-q")
    assert code == 0, out
    assert [line.split("[")[1].rstrip("]") for line in out.splitlines() if "::test_glue[" in line] == expected


@pytest.mark.e2e
def test_quick_profile_cases_are_marked_slow():
    code, out = run_pytest("--profile", "quick", "-m", "slow", "--collect-only", "-q")
    assert code == 0 and out.count("::test_glue[") == 14, out  # 7 gated tasks (RTE, WNLI left out) x full, seq_bn


@pytest.mark.e2e
def test_xdist_and_shards_give_the_serial_numbers(tmp_path):
    """pytest -n 2 gives the same metrics as a serial run; two merged shards give the unsharded report."""
    from suite.report import table as report
    from suite.store import results_files

    # the tiny model scores its floor: every case is degenerate (exit 1), the same way in every layout
    common = ["--model", "tiny", "--baselines-dir", str(tmp_path), "-q", "--methods", "full,seq_bn"]
    files = {name: tmp_path / f"{name}.json" for name in ("serial", "xdist", "shard1", "shard2")}
    assert run_pytest(*common, "--results-json", str(files["serial"]))[0] == 1
    code, out = run_pytest(*common, "-n", "2", "--results-json", str(files["xdist"]))
    assert code == 1 and "4 failed" in out, out
    for i in (1, 2):
        assert run_pytest(*common, "--shard", f"{i}/2", "--results-json", str(files[f"shard{i}"]))[0] == 1

    def metrics(path):
        return {c["key"]: [r["metrics"] for r in c["runs"]] for c in json.loads(path.read_text())["cases"]}

    assert metrics(files["xdist"]) == metrics(files["serial"]) and len(metrics(files["serial"])) == 4
    shard_keys = [set(metrics(files["shard1"])), set(metrics(files["shard2"]))]
    assert not (shard_keys[0] & shard_keys[1]) and shard_keys[0] | shard_keys[1] == set(metrics(files["serial"]))
    _, merged = results_files.merge([files["shard1"], files["shard2"]])
    _, serial = results_files.merge([files["serial"]])
    by_key = {r.result.key: r for r in merged}
    merged = [by_key[r.result.key] for r in serial]  # same row order as the serial table
    # quality, baseline, verdict and gap columns; the throughput columns differ from run to run
    assert [report._cells(r)[:9] for r in merged] == [report._cells(r)[:9] for r in serial]


def test_a_strict_junit_family_leaves_out_the_per_case_properties():
    """-o junit_family=xunit2 (for consumers that validate against the JUnit XSD): the suite still reads each case's
    result from its report, then leaves out every property (the XSD has no <properties> inside <testcase>); under
    xunit1, the project's setting, the figures stay."""
    from types import SimpleNamespace

    from factories import make_result

    from suite import pytest_plugin

    def report(when):
        return SimpleNamespace(when=when, nodeid="benchmarks/test_glue.py::test_glue[sst2-seq_bn]", user_properties=[
            (pytest_plugin.RESULT_PROPERTY, json.dumps(make_result().to_dict())), ("verdict", "pass"),
            (pytest_plugin.TIME_PROPERTY, 2.5)])

    for family, kept in (("xunit2", []), ("xunit1", [("verdict", "pass"), (pytest_plugin.TIME_PROPERTY, 2.5)])):
        config = SimpleNamespace(getini=lambda name, family=family: family, stash={})
        collector = pytest_plugin.ResultCollector(config)
        added = []
        config.stash[pytest_plugin.SESSION] = SimpleNamespace(add=added.append)
        r = report("call")
        collector.pytest_runtest_logreport(r)
        assert r.user_properties == kept, family
        key = make_result().key
        assert [a.key for a in added] == [key] and collector.timed[key][1] == 2.5
