"""Reliability under bad input and faults: one clear line per mistake, no hangs, no damaged or lost baseline file.

The table below feeds malformed inputs through the real entry points (pytest and python -m suite) in
subprocesses and checks the exit status, the one-line message, the absence of a traceback, and that the
baseline file is byte-for-byte what it was. Faults (non-finite loss, out of memory, Ctrl-C, kill -9 during an
update, concurrent updaters, an unreachable Hub) have their own tests further down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from factories import make_result, unjudged_results_file
from helpers import ROOT, clean_env, run_pytest_many

from suite.errors import SuiteError
from suite.gate import baselines as bl

GOOD_BASELINE = {"entries": {"sst2/full": {"mean": 50.0, "metric": "accuracy"}}, "schema": 1}


def run(args, *, baselines_dir, env=None, timeout=300, module="pytest"):
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "--baselines-dir",
           str(baselines_dir), *args] if module == "pytest" else [sys.executable, "-m", "suite", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**clean_env(), "HF_HUB_OFFLINE": "1", **(env or {})})
    return proc.returncode, proc.stdout + proc.stderr


def glue_dir_with(tmp_path, files: dict[str, str]):
    d = tmp_path / "glue"
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (d / rel).write_bytes(text)
        else:
            (d / rel).write_text(text)
    return d


def a_file(tmp_path, name="stray.txt", text="not what was expected\n"):
    p = tmp_path / name
    p.write_text(text)
    return p


def model_folder_without_tokenizer(tmp_path):
    from transformers import BertConfig

    d = tmp_path / "half-model"
    d.mkdir()
    BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37).to_json_file(
        d / "config.json")
    return d


SST2_OK = "sentence\tlabel\n" + "".join(f"a {'good' if i % 2 else 'bad'} film number {i}\t{i % 2}\n" for i in range(40))

# (id, arguments or a callable building them from tmp_path, expected message fragment, collect-only?)
MALFORMED = [
    ("unknown-profile", ["--profile", "smok"], "Unknown profile 'smok'. Did you mean: smoke?", True),
    ("unknown-task", ["--tasks", "sst3"], "Unknown task 'sst3'. Did you mean: sst2", True),
    ("unknown-method", ["--methods", "seqbn"], "Unknown method 'seqbn'", True),
    ("unbalanced-config", ["--methods", "seq_bn[reduction_factor=4"], "Unbalanced brackets", True),
    ("bad-config-key", ["--methods", "seq_bn[reduction_factr=4]"],
     "unexpected keyword argument 'reduction_factr'", True),
    ("bad-config-value", ["--methods", "seq_bn[reduction_factor=]"],
     "Unknown method 'seq_bn[reduction_factor=]'", True),
    ("hybrid-of-full", ["--methods", "full+top2"], "extend a frozen-backbone method", True),
    ("negative-tolerance", ["--tolerance", "-1"], "Tolerance must be a finite number >= 0", True),
    ("text-tolerance", ["--tolerance", "abc"], "Tolerance must be a number of points", True),
    ("nan-tolerance", ["--tolerance", "nan"], "Tolerance must be a finite number >= 0", True),
    ("non-integer-seed", ["--seeds", "0,x"], "Seeds must be integers", True),
    ("empty-seeds", ["--seeds", ","], "--seeds needs at least one integer", True),
    ("duplicate-seeds", ["--seeds", "1,1"], "Seeds must be distinct", True),
    ("seeds-with-an-empty-item", ["--seeds", "0,,1"], "has an empty item", True),
    ("negative-max-gap", ["--max-gap", "-0.5"], "--max-gap must be a finite number >= 0", True),
    ("throughput-percent", ["--throughput-tolerance", "150"], "between 0 and 100 percent", True),
    ("lr-not-a-number", ["--lr", "full=abc"], "--lr takes NAME=RATE pairs", True),
    ("lr-without-rate", ["--lr", "seq_bn"], "--lr takes NAME=RATE pairs", True),
    ("glue-dir-missing", ["--profile", "quick", "--glue-dir", "/no/such/glue"],
     "--glue-dir /no/such/glue is not a folder", True),
    ("missing-model-path", ["--model", "./no/such/model", "--tasks", "sst2", "-k", "full"],
     "Model path ./no/such/model does not exist", False),
    ("synthetic-has-no-rte", ["--tasks", "rte", "-k", "full"], "no generator for task 'rte'", False),
    ("glue-dir-without-task-files", lambda t: ["--profile", "quick", "--glue-dir",
                                               str(glue_dir_with(t, {"SST-2/dev.tsv": SST2_OK})), "--tasks", "sst2",
                                               "--model", "tiny", "-k", "full"], "SST-2/train.tsv", False),
    ("malformed-tsv-row", lambda t: ["--profile", "quick", "--glue-dir", str(glue_dir_with(t, {
        "SST-2/train.tsv": SST2_OK + "one\ttoo\tmany\n", "SST-2/dev.tsv": SST2_OK})), "--tasks", "sst2",
        "--model", "tiny", "-k", "full"], "train.tsv:42: malformed row: 3 fields, expected 2", False),
    ("empty-dataset", lambda t: ["--profile", "quick", "--glue-dir", str(glue_dir_with(t, {
        "SST-2/train.tsv": "sentence\tlabel\n", "SST-2/dev.tsv": SST2_OK})), "--tasks", "sst2", "--model", "tiny",
        "-k", "full"], "sst2 train is empty after sampling", False),
    ("unknown-label", lambda t: ["--profile", "quick", "--glue-dir", str(glue_dir_with(t, {
        "SST-2/train.tsv": SST2_OK + "odd\tpositive-ish\n", "SST-2/dev.tsv": SST2_OK})), "--tasks", "sst2", "--model",
        "tiny", "-k", "full"], "unknown label 'positive-ish'", False),
    # issue 12: library errors as one line, checked before any training
    ("reduction-factor-zero", ["--methods", "seq_bn[reduction_factor=0]"],
     "Method 'seq_bn[reduction_factor=0]': reduction_factor=0 must be > 0", True),
    ("lora-rank-zero", ["--methods", "lora[r=0]"], "Method 'lora[r=0]': r=0 must be > 0", True),
    ("negative-reduction-factor", ["--methods", "seq_bn[reduction_factor=-4]"],
     "reduction_factor=-4 must be > 0", True),
    ("infinite-lora-alpha", ["--methods", "lora[alpha=1e400]"], "alpha=inf is not a finite number", True),
    ("config-that-does-not-fit-the-model", ["--model", "tiny", "--methods", "compacter"],
     "Method 'compacter' cannot be applied to model 'tiny' (AssertionError", True),
    ("too-many-top-layers", ["--methods", "seq_bn+top7"], "the model has only 6 encoder layers", True),
    ("negative-seed", ["--seeds", "-1"], "Seeds must be between 0 and 4294967295", True),
    ("seed-beyond-numpy", ["--seeds", str(2**32)], "Seeds must be between 0 and 4294967295", True),
    ("empty-methods", ["--methods", ""], "--methods is empty", True),
    ("empty-tasks", ["--tasks", ""], "--tasks is empty", True),
    ("upper-case-method", ["--methods", "SEQ_BN"], "Did you mean: seq_bn,", True),
    ("upper-case-task", ["--tasks", "SST2"], "Did you mean: sst2,", True),
    ("huge-method", ["--methods", "x" * 20000], "Unknown method '" + "x" * 80 + "...'", True),
    ("method-is-a-file", lambda t: ["--methods", str(a_file(t, "seq.json", '{"architecture": "bottleneck"}'))],
     "names a file; a method is a name or an adapters config string", True),
    ("model-empty-folder", lambda t: ["--model", str(t)], "has no config.json, so it is not a model folder", True),
    ("model-is-a-file", lambda t: ["--model", str(a_file(t, "model.bin"))], "is a file; a local model is a folder",
     True),
    ("model-folder-without-tokenizer", lambda t: ["--model", str(model_folder_without_tokenizer(t))],
     "Could not load model", True),
    ("invalid-utf8-tsv", lambda t: ["--profile", "quick", "--glue-dir", str(glue_dir_with(t, {
        "SST-2/train.tsv": (SST2_OK + "caf\xe9 au lait\t1\n").encode("latin-1"), "SST-2/dev.tsv": SST2_OK})),
        "--tasks", "sst2", "--model", "tiny", "-k", "full"], "train.tsv:42: not valid UTF-8", False),
    # outputs checked before training (no finished run lost to a bad path)
    ("results-json-is-a-folder", lambda t: ["--results-json", str(t)], "is a folder; name a file", True),
    ("results-json-under-a-file", lambda t: ["--results-json", str(a_file(t) / "r.json")],
     "is a file, so", True),
    ("results-json-unwritable", ["--results-json", "/proc/no/r.json"], "--results-json: cannot write in /proc", True),
    ("report-dir-is-a-file", lambda t: ["--report-dir", str(a_file(t))], "is a file; name a folder for the report",
     True),
    ("update-baselines-unwritable", ["--update-baselines", "--baselines-dir", "/proc"],
     "--update-baselines: cannot write in /proc", True),
    ("history-unwritable", ["--history", "/proc/h.sqlite"], "--history: cannot write in /proc", True),
]


@pytest.fixture(scope="module")
def malformed_runs(tmp_path_factory):
    """Every MALFORMED case through pytest, in one subprocess (run_pytest_many: they all end before training), each
    in its own folder holding a good smoke.json and quick.json: {name: (folder, their bytes, exit status, output)}."""
    folders, before, argvs = {}, {}, {}
    for name, args, _, collect in MALFORMED:
        folder = folders[name] = tmp_path_factory.mktemp(name[:40])
        for baseline in ("smoke.json", "quick.json"):
            bl.write_atomic(folder / baseline, GOOD_BASELINE)
        before[name] = (folder / "smoke.json").read_bytes()
        argv = args(folder) if callable(args) else args
        argvs[name] = ["--baselines-dir", str(folder), *argv, *(["--collect-only", "-q"] if collect else ["-q"])]
    return {name: (folders[name], before[name], *result) for name, result in run_pytest_many(argvs).items()}


@pytest.mark.e2e
@pytest.mark.xdist_group("malformed_runs")
@pytest.mark.parametrize("name, args, message, collect", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_gives_one_clear_line(malformed_runs, name, args, message, collect):
    folder, before, code, out = malformed_runs[name]
    assert code != 0, out
    assert message in out, out
    assert "Traceback" not in out and "raise " not in out, out
    lines = [line for line in out.splitlines() if message in line]
    assert lines and all(len(line) < 600 for line in lines)
    assert (folder / "smoke.json").read_bytes() == before and (folder / "quick.json").read_bytes() == before


BROKEN_FILES = [
    ("corrupt-json", "{\"entries\": {", "is not valid JSON"),
    ("truncated", json.dumps(GOOD_BASELINE, indent=2)[:40], "is not valid JSON"),
    ("wrong-schema", json.dumps({"entries": [1, 2]}), "entries: [1, 2] is not of type 'object'"),
    ("non-numeric-mean", json.dumps({"entries": {"sst2/full": {"metric": "accuracy", "mean": "high"}}}),
     "'high' is not of type 'number'"),
    ("nan-mean", '{"entries": {"sst2/full": {"metric": "accuracy", "mean": NaN}}}', "NaN is not a number"),
    ("n-is-text", json.dumps({"entries": {"k": {"metric": "accuracy", "mean": 80, "n": "three"}}}), "'three'"),
    ("throughput-list", json.dumps({"entries": {"k": {"metric": "accuracy", "mean": 80, "throughput": [1]}}}),
     "is not of type 'object'"),
    ("duplicate-keys", '{"entries": {"k": {"metric": "accuracy", "mean": 80, "mean": 81}}}', "duplicate key 'mean'"),
    ("not-utf8", b"\xff\xfe\x00garbage", "is not UTF-8 text"),
    ("nested-too-deeply", "[" * 100000 + "]" * 100000, "nested too deeply"),
]


@pytest.fixture(scope="module")
def broken_file_runs(tmp_path_factory):
    """Every BROKEN_FILES case, run and --update-baselines, through pytest in one subprocess (run_pytest_many):
    {(name, update): (baseline file, exit status, output)}."""
    paths, argvs = {}, {}
    for name, content, _ in BROKEN_FILES:
        for update in (False, True):
            path = paths[name, update] = tmp_path_factory.mktemp(name[:40]) / "smoke.json"
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            argvs[f"{name}/{update}"] = ["--baselines-dir", str(path.parent), "--model", "tiny", "--tasks", "sst2",
                                         "-q", *(["--update-baselines"] if update else [])]
    runs = run_pytest_many(argvs)
    return {key: (path, *runs[f"{key[0]}/{key[1]}"]) for key, path in paths.items()}


@pytest.mark.e2e
@pytest.mark.xdist_group("broken_file_runs")
@pytest.mark.parametrize("name, content, message", BROKEN_FILES, ids=[b[0] for b in BROKEN_FILES])
@pytest.mark.parametrize("update", [False, True], ids=["run", "update"])
def test_broken_baseline_file_is_reported_and_never_overwritten(broken_file_runs, name, content, message, update):
    path, code, out = broken_file_runs[name, update]
    assert code != 0 and message in out and str(path) in out and "git checkout" in out, out
    assert "Traceback" not in out
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())


@pytest.mark.e2e
@pytest.mark.parametrize("update", [False, True], ids=["run", "update"])
def test_a_folder_in_place_of_the_baseline_file_is_one_line(tmp_path, update):
    (tmp_path / "smoke.json").mkdir()
    code, out = run(["--collect-only", "-q", *(["--update-baselines"] if update else [])], baselines_dir=tmp_path)
    assert code != 0 and "smoke.json is a folder, not a file" in out and "Traceback" not in out, out
    assert (tmp_path / "smoke.json").is_dir() and not any((tmp_path / "smoke.json").iterdir())


def test_a_failing_finish_step_cancels_no_other(tmp_path):
    """The report folder turned into a file during the run: the report fails in one line, the results file and the
    baseline update still happen, and the run is marked broken (non-zero exit)."""
    from suite.config.options import Options
    from suite.session.bench import BenchSession

    s = BenchSession(Options(profile="unit", model="tiny", baselines_dir=str(tmp_path), update_baselines=True,
                             results_json=str(tmp_path / "r.json"), report_dir=str(tmp_path / "rep"), no_history=True))
    s.add(make_result((80.0,)))
    (tmp_path / "rep").write_text("became a file while the run trained")
    lines, broken = s.finish()
    assert broken
    [error] = [line for line in lines if line.startswith("ERROR")]
    assert error.startswith("ERROR (report): ") and "\n" not in error
    assert [c["key"] for c in json.loads((tmp_path / "r.json").read_text())["cases"]] == ["sst2/seq_bn@tiny"]
    assert bl.load(tmp_path / "unit.json")["entries"]["sst2/seq_bn@tiny"]["mean"] == 80.0


# `python -m suite baselines diff` and `report` on malformed or misplaced files
CLI_FILES = [
    ("report-merge-nothing", lambda t: ["report", "merge"], "No results files given"),
    ("report-out-is-a-file", lambda t: ["report", str(unjudged_results_file(t)), "--out", str(a_file(t))],
     "--out " + "{t}/stray.txt is a file; name a folder for the report"),
    ("report-out-under-a-file", lambda t: ["report", str(unjudged_results_file(t)), "--out", str(a_file(t) / "rep")],
     "is a file, so"),
    ("report-bad-profile", lambda t: ["report", str(unjudged_results_file(t, profile="../../etc")), "--out",
                                      str(t / "rep")], "is not a results file"),
    ("report-verdict-of-wrong-type", lambda t: ["report", str(unjudged_results_file(t, verdict={
        "key": "k", "status": "pass", "baseline": "x"})), "--out", str(t / "rep")],
     "verdict/baseline: 'x' is not of type"),
    ("report-a-baseline-file", lambda t: ["report", str(a_file(t, "smoke.json", json.dumps(GOOD_BASELINE))), "--out",
                                          str(t / "rep")], "is a baseline file, not a results file"),
    ("diff-a-baseline-file", lambda t: ["baselines", "diff", str(a_file(t, "smoke.json", json.dumps(GOOD_BASELINE)))],
     "is a baseline file, not a results file"),
    ("diff-a-folder", lambda t: ["baselines", "diff", str(t)], "is a folder, not a file; expected a results file"),
    ("diff-empty-file", lambda t: ["baselines", "diff", str(a_file(t, "r.json", ""))], "is not a results file"),
    ("diff-unknown-method", lambda t: ["baselines", "diff", str(unjudged_results_file(t, cases=[{
        **json.loads(unjudged_results_file(t, "ok.json").read_text())["cases"][0], "method": "nope"}]))],
     "Unknown method 'nope'"),
    ("diff-baselines-dir-is-a-file", lambda t: ["baselines", "diff", str(unjudged_results_file(t)), "--baselines-dir",
                                                str(a_file(t))], "--baselines-dir {t}/stray.txt is a file"),
    ("show-baselines-dir-is-a-file", lambda t: ["baselines", "show", "--baselines-dir", str(a_file(t))],
     "--baselines-dir {t}/stray.txt is a file"),
]


@pytest.mark.e2e
@pytest.mark.parametrize("name, args, message", CLI_FILES, ids=[c[0] for c in CLI_FILES])
def test_cli_on_malformed_or_misplaced_files_is_one_line(tmp_path, name, args, message):
    argv = args(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out = run(argv, baselines_dir=tmp_path, module="suite")
    assert code == 2 and message.format(t=tmp_path) in out and "Traceback" not in out, out
    assert len(out.strip().splitlines()) == 1, out
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing damaged


@pytest.mark.e2e
@pytest.mark.parametrize("args, message", [
    (["baselines", "diff", "/no/such/results.json"], "does not exist"),
    (["baselines", "show", "--profile", "nope"], "Unknown profile 'nope'"),
    (["baselines", "frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    code, out = run(args, baselines_dir=tmp_path, module="suite")
    assert code == 2 and message in out and "Traceback" not in out, out


@pytest.mark.e2e
def test_cli_rejects_a_file_that_is_not_a_results_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"cases": 3}')
    code, out = run(["baselines", "diff", str(bad)], baselines_dir=tmp_path, module="suite")
    assert code == 2 and "is not a results file" in out and "Traceback" not in out, out


# --- faults ------------------------------------------------------------------------------------------------

OOM_PLUGIN = textwrap.dedent('''
    import torch
    from suite.engine import run as engine

    _run_seed, _collate, state = engine.run_seed, engine.collate, {"oom": False}

    def run_seed(case, seed, *args, **kwargs):
        state["oom"] = case.method == "seq_bn"
        return _run_seed(case, seed, *args, **kwargs)

    def collate(*args, **kwargs):
        if state["oom"]:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return _collate(*args, **kwargs)

    engine.run_seed, engine.collate = run_seed, collate
''')


@pytest.mark.e2e
def test_out_of_memory_fails_that_case_with_the_batch_size_and_the_others_run(tmp_path):
    (tmp_path / "oom_plugin.py").write_text(OOM_PLUGIN)
    code, out = run(["--model", "tiny", "--tasks", "sst2", "-p", "oom_plugin", "-q", "--results-json",
                     str(tmp_path / "r.json")], baselines_dir=tmp_path,
                    env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert code == 1, out  # the tiny model learns nothing: full is degenerate, seq_bn ran out of memory
    assert "out of memory at training step 1 with batch size 32" in out and "lower the batch size" in out
    cases = {c["key"]: c for c in json.loads((tmp_path / "r.json").read_text())["cases"]}
    assert (cases["sst2/full@tiny"]["runs"][0]["status"] == "ok"
            and cases["sst2/seq_bn@tiny"]["runs"][0]["status"] == "failed")


@pytest.mark.e2e
def test_nan_loss_is_refused_by_update(tmp_path):
    code, out = run(["--model", "tiny", "--tasks", "sst2", "-k", "full", "--lr", "full=1e12", "--update-baselines",
                     "-q"], baselines_dir=tmp_path)
    assert code == 1 and "training loss became" in out and "at step" in out, out
    assert "NOT updated for sst2/full@tiny" in out
    assert not (tmp_path / "smoke.json").exists()


def _signal_after_first_case(tmp_path, results, sig, *extra):
    """A real --update-baselines run on the tiny model, sent ``sig`` as soon as its first case finished."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-v", "--model",
                             "tiny", "--baselines-dir", str(tmp_path), "--update-baselines", "--results-json",
                             str(results), "--benchmark-disable", *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**clean_env(), "HF_HUB_OFFLINE": "1"})
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "PASSED" in line or "FAILED" in line:  # one case finished (tiny cases are degenerate: FAILED)
            proc.send_signal(sig)
            break
    return proc, "".join(seen) + proc.communicate(timeout=120)[0]


@pytest.mark.e2e
def test_ctrl_c_keeps_results_so_far_and_leaves_baselines_alone(tmp_path):
    path = tmp_path / "smoke.json"
    bl.write_atomic(path, GOOD_BASELINE)
    before = path.read_bytes()
    results = tmp_path / "partial.json"
    proc, out = _signal_after_first_case(tmp_path, results, signal.SIGINT)
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert "left untouched" in out
    assert path.read_bytes() == before
    done = json.loads(results.read_text())["cases"]
    assert 1 <= len(done) < 4 and all(c["runs"][0]["status"] == "ok" for c in done)


@pytest.mark.e2e
def test_sigterm_is_ctrl_c_in_the_pytest_layer(tmp_path):
    """CI cancellation sends SIGTERM: the finished cases are written, baselines untouched, one line, status 2."""
    path = tmp_path / "smoke.json"
    bl.write_atomic(path, GOOD_BASELINE)
    before = path.read_bytes()
    results = tmp_path / "partial.json"
    proc, out = _signal_after_first_case(tmp_path, results, signal.SIGTERM, "--history", str(tmp_path / "h.sqlite"))
    assert proc.returncode == 2, out  # pytest's "interrupted", as for Ctrl-C (README "Reliability")
    [line] = [x for x in out.splitlines() if x.startswith("terminated (SIGTERM): ")]
    assert f"written to {results}" in line and f"{path} left untouched" in line and "history not appended" in line
    assert "Traceback" not in out
    assert path.read_bytes() == before and not (tmp_path / "h.sqlite").exists()
    done = json.loads(results.read_text())["cases"]
    assert 1 <= len(done) < 4 and all(c["runs"][0]["status"] == "ok" for c in done)


RUN_SCRIPT = textwrap.dedent('''
    import sys
    from suite.__main__ import main
    from suite.session.bench import BenchSession

    _add = BenchSession.add
    def add(self, result):  # tell the test when a case is in, so that it signals between cases
        _add(self, result)
        print("CASE DONE", result.key, file=sys.stderr, flush=True)
    BenchSession.add = add
    sys.exit(main(sys.argv[1:]))
''')


@pytest.mark.e2e
@pytest.mark.parametrize("sig, status, head", [(signal.SIGTERM, 143, "terminated (SIGTERM): "),
                                               (signal.SIGINT, 130, "interrupted (SIGINT): ")],
                         ids=["SIGTERM", "SIGINT"])
def test_python_m_suite_run_keeps_results_on_sigterm_and_ctrl_c(tmp_path, sig, status, head):
    path = tmp_path / "smoke.json"
    bl.write_atomic(path, GOOD_BASELINE)
    before = path.read_bytes()
    results = tmp_path / "partial.json"
    proc = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, "run", "--model", "tiny", "--baselines-dir",
                             str(tmp_path), "--update-baselines", "--results-json", str(results), "--history",
                             str(tmp_path / "h.sqlite")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**clean_env(), "HF_HUB_OFFLINE": "1"})
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("CASE DONE"):
            proc.send_signal(sig)
            break
    out = "".join(seen) + proc.communicate(timeout=120)[0]
    assert proc.returncode == status, out  # 128 + the signal's number
    [line] = [x for x in out.splitlines() if x.startswith(head)]
    assert f"written to {results}" in line and f"{path} left untouched" in line and "history not appended" in line
    assert "Traceback" not in out
    assert path.read_bytes() == before and not (tmp_path / "h.sqlite").exists()
    done = json.loads(results.read_text())["cases"]
    assert 1 <= len(done) < 4 and all(c["runs"][0]["status"] == "ok" for c in done)


@pytest.mark.e2e
def test_python_m_suite_run_keeps_finished_cases_when_a_later_case_is_a_mistake(tmp_path):
    results = tmp_path / "r.json"
    code, out = run(["run", "--model", "tiny", "--tasks", "sst2,rte", "--methods", "full", "--baselines-dir",
                     str(tmp_path), "--results-json", str(results), "--no-history"], baselines_dir=tmp_path,
                    module="suite")
    assert code == 2 and "error: The synthetic data source has no generator for task 'rte'" in out, out
    assert "stopped by the error below: 1 finished case written to" in out and "Traceback" not in out
    assert [c["key"] for c in json.loads(results.read_text())["cases"]] == ["sst2/full@tiny"]


KILL_SCRIPT = textwrap.dedent('''
    import os, sys, time
    from suite.gate import baselines as bl
    sys.path.insert(0, sys.argv[2])
    from factories import make_result

    real_fdopen = os.fdopen
    class Slow:
        def __init__(self, f): self.f = f
        def __enter__(self): return self
        def __exit__(self, *a): return self.f.__exit__(*a)
        def write(self, text):
            self.f.write(text[: len(text) // 2]); self.f.flush()
            open(sys.argv[3], "w").close()      # tell the test we are mid-write
            time.sleep(60)
        def flush(self): self.f.flush()
        def fileno(self): return self.f.fileno()
    def fdopen(fd, mode="r", *a, **k):  # only the write is slowed; reads (the bounded reader) are real
        f = real_fdopen(fd, mode, *a, **k)
        return Slow(f) if "w" in mode else f
    os.fdopen = fdopen
    bl.update(sys.argv[1], "unit", [make_result((99.0,))])
''')


@pytest.mark.e2e
def test_kill_9_mid_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "unit.json"
    bl.write_atomic(path, GOOD_BASELINE)
    before = path.read_bytes()
    flag = tmp_path / "mid-write"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), str(ROOT / "tests"), str(flag)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the updater never reached the write"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert path.read_bytes() == before
    assert bl.load(path)["entries"] == GOOD_BASELINE["entries"]
    # the next update succeeds and the leftover temp file does not confuse anything
    bl.update(path, "unit", [make_result((70.0,))])
    assert set(bl.load(path)["entries"]) == {"sst2/full", "sst2/seq_bn@tiny"}


CONCURRENT_SCRIPT = textwrap.dedent('''
    import sys
    from suite.gate import baselines as bl
    sys.path.insert(0, sys.argv[2])
    from factories import make_result
    worker = int(sys.argv[3])
    for i in range(8):
        r = make_result((50.0 + i,), key_method=f"seq_bn[reduction_factor={worker * 10 + i + 1}]")
        bl.update(sys.argv[1], "unit", [r])
''')


@pytest.mark.e2e
def test_concurrent_updaters_lose_no_entry(tmp_path):
    path = tmp_path / "unit.json"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SCRIPT, str(path), str(ROOT / "tests"), str(w)],
                              cwd=ROOT) for w in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    entries = bl.load(path)["entries"]
    assert len(entries) == 32
    assert path.read_text() == bl.dumps(json.loads(path.read_text()))


class HangingServer:
    """Accepts connections on loopback and never answers: what an unreachable proxy or a dead network looks like."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def __exit__(self, *exc):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_unreachable_hub_fails_within_seconds_naming_the_ways_out(monkeypatch):
    from suite import hub
    from suite.config.tasks import get_task
    from suite.data.sources import load_task_data

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("GLUE_DIR", raising=False)
    hub._probe.cache_clear()
    import urllib.request

    timeouts = []
    real_urlopen = urllib.request.urlopen

    def urlopen(*args, **kwargs):  # the probe must bound its wait: checked by the value, not by a stopwatch
        timeouts.append(kwargs.get("timeout"))
        return real_urlopen(*args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    server = HangingServer()
    with server as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(SuiteError) as e:
            load_task_data(get_task("sst2"), "glue")
        assert len(server.conns) == 1  # one probe reached the (hanging) endpoint, nothing else
    assert timeouts == [hub.PROBE_TIMEOUT_S] and 0 < hub.PROBE_TIMEOUT_S <= 5
    msg = str(e.value)
    assert "unreachable" in msg and "--glue-dir" in msg and "--model" in msg and "HF_HUB_OFFLINE=1" in msg


def test_a_hub_model_id_is_probed_too(monkeypatch):
    from suite import hub
    from suite.config.models import load_tokenizer

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub._probe.cache_clear()
    with HangingServer() as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(SuiteError, match="Model 'bert-base-uncased' needs the Hugging Face Hub"):
            load_tokenizer("bert-base-uncased")


@pytest.mark.e2e
def test_runs_that_need_no_hub_never_touch_the_network(tmp_path):
    """With the Hub endpoint pointing at a server that never answers, the default run still finishes normally and
    never connects to it (checked on the server's side, not by timing: a busy machine makes any time limit flaky)."""
    server = HangingServer()
    with server as url:
        code, out = run(["--model", "tiny", "--tasks", "sst2", "-k", "full", "-q"], baselines_dir=tmp_path,
                        env={"HF_HUB_OFFLINE": "", "HF_ENDPOINT": url})
        time.sleep(0.2)  # let the accept thread record a late connection, if there was one
        assert server.conns == [], "the run connected to the Hub endpoint"
    assert code == 1 and "degenerate" in out, out  # judged normally (the tiny model learns nothing)


def test_security_no_remote_code_no_pickle():
    src = "\n".join(p.read_text() for p in (ROOT / "suite").rglob("*.py"))
    assert "trust_remote_code=True" not in src
    assert "import pickle" not in src and "torch.load(" not in src
    import re

    assert not re.search(r"(?<![.\w])(eval|exec)\(", src)


def test_a_signal_while_the_files_are_written_waits_for_them(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM) during finish is held until the results file is written, then reported."""
    from suite.config.options import Options
    from suite.session.bench import BenchSession
    from suite.store import results_files

    s = BenchSession(Options(profile="unit", model="tiny", baselines_dir=str(tmp_path),
                             results_json=str(tmp_path / "r.json"), no_history=True))
    s.add(make_result((80.0,)))
    real = results_files.write_results

    def write_while_signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # delivered now, in the middle of writing
        return real(*args, **kwargs)

    monkeypatch.setattr(results_files, "write_results", write_while_signalled)
    before = signal.getsignal(signal.SIGINT)
    lines, broken = s.finish()
    assert not broken and "SIGINT received while the files were written: they were finished first" in lines
    assert json.loads((tmp_path / "r.json").read_text())["cases"][0]["key"] == "sst2/seq_bn@tiny"
    assert signal.getsignal(signal.SIGINT) is before  # restored


# --- found by a new-user attack on this release -------------------------------------------------------------

@pytest.mark.e2e
def test_a_shard_that_selects_nothing_is_an_error_not_a_green_job(tmp_path):
    code, out = run(["--model", "tiny", "--shard", "5/8", "--strict-baselines", "--collect-only", "-q"],
                    baselines_dir=tmp_path)
    assert code != 0 and "--shard 5/8 selects none of the 4 cases" in out and "Traceback" not in out, out
    code, out = run(["run", "--model", "tiny", "--shard", "5/8"], baselines_dir=tmp_path, module="suite")
    assert code == 2 and "selects none" in out, out


@pytest.mark.e2e
def test_merging_no_cases_or_a_case_twice_fails(tmp_path):
    from factories import RESULTS, judged_rows

    from suite.store import results_files

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"schema": 2, "profile": "smoke", "shard_count": 1, "shards": [1], "cases": []}))
    code, out = run(["report", "merge", str(empty), "--strict-baselines", "--out", str(tmp_path / "rep")],
                    baselines_dir=tmp_path, module="suite")
    assert code == 1 and "no cases" in out, out
    code, out = run(["baselines", "update", str(empty), "--baselines-dir", str(tmp_path / "bl")],
                    baselines_dir=tmp_path, module="suite")
    assert code == 1 and "nothing to record" in out, out
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    results_files.write_results(a, "smoke", judged_rows(RESULTS[:2]))
    results_files.write_results(b, "smoke", judged_rows(RESULTS[1:3]))  # sst2/seq_bn in both: order must not decide
    code, out = run(["report", "merge", str(a), str(b), "--out", str(tmp_path / "rep2")], baselines_dir=tmp_path,
                    module="suite")
    assert code == 2 and "is in both" in out and "Traceback" not in out, out


@pytest.mark.e2e
def test_overlong_path_components_are_one_line(tmp_path):
    long = str(tmp_path / ("a" * 300))
    code, out = run(["--model", "tiny", "--results-json", f"{long}/x.json", "--collect-only", "-q"],
                    baselines_dir=tmp_path)
    assert code != 0 and "longer than 255 bytes" in out and "Traceback" not in out, out
    code, out = run(["report", str(tmp_path / "missing.json"), "--out", f"{long}/rep"], baselines_dir=tmp_path,
                    module="suite")
    assert code == 2 and "Traceback" not in out, out
    code, out = run(["baselines", "show", "--baselines-dir", long], baselines_dir=tmp_path, module="suite")
    assert code == 2 and "Traceback" not in out and out.count("\n") <= 2, out


def test_an_entry_with_several_seeds_but_no_per_seed_values_is_refused(tmp_path):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps({"entries": {"sst2/seq_bn@tiny": {"metric": "accuracy", "mean": 80.0, "sd": 50.0,
                                                                  "n": 3}}}))
    with pytest.raises(SuiteError, match="no per-seed 'values'"):
        bl.load(path)


@pytest.mark.e2e
def test_diagnose_refuses_full_fine_tuning_before_training(tmp_path):
    code, out = run(["diagnose", "--task", "sst2", "--method", "full", "--model", "tiny", "--out",
                     str(tmp_path / "d")], baselines_dir=tmp_path, module="suite")
    assert code == 2 and "has no adapter" in out and "seed 0" not in out, out


@pytest.mark.e2e
def test_local_data_is_checked_for_the_selected_cases_only(tmp_path):
    """`pytest -k sst2` on the quick profile with a GLUE folder that lacks QQP (the shared copy does): the selected
    task's files are read before training, the deselected tasks' are not asked for; selecting a task whose files
    are missing still stops in one line before any training."""
    glue = glue_dir_with(tmp_path, {"SST-2/train.tsv": SST2_OK, "SST-2/dev.tsv": SST2_OK})
    common = ["--profile", "quick", "--glue-dir", str(glue), "--model", "tiny", "--collect-only", "-q"]
    code, out = run([*common, "-k", "sst2"], baselines_dir=tmp_path)
    assert code == 0 and "Missing GLUE file" not in out and "sst2-full" in out, out
    code, out = run([*common, "-k", "mnli"], baselines_dir=tmp_path)
    assert code == 4 and "MNLI/train.tsv" in out and "Traceback" not in out, out
