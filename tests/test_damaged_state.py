"""Issue 24: nothing passes on damaged state, nothing is lost to a second writer, no write goes through the wrong
file. One test per class (docs/reliability.md), each through the real entry point: ``python -m suite`` in process
(``suite.commands.main``: the same parser and error handling as the console command), the benchmark session the
pytest plugin builds (``BenchSession``: every check before training), and a few real subprocesses (marked e2e).
Nothing here trains."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading

import pytest
from factories import RESULTS, dated_result, make_result, record_history, report_result, results_file
from helpers import ROOT, clean_env, run_pytest_many

from suite.commands import main
from suite.config.options import Options
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import verdicts as vd
from suite.session import preflight
from suite.session.bench import BenchSession
from suite.store import history as hi
from suite.store import results_files


def cli(capsys, *argv) -> tuple[int, str]:
    """``python -m suite ARGV`` in process: (exit status, stdout + stderr); never a traceback."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text and "During handling" not in text, text
    return code, text


def error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    assert len(lines[0]) < 800, lines[0]
    return lines[0]


def session(tmp_path, **kw) -> BenchSession:
    """The session `pytest benchmarks` / `python -m suite run` builds: every check before training."""
    kw = {"profile": "smoke", "model": "tiny", "tasks": "sst2", "methods": "full,seq_bn",
          "baselines_dir": str(ROOT / "baselines"), "history": str(tmp_path / "h.sqlite"), **kw}
    return BenchSession(Options(**kw))


# --- damaged history: the gates fail, never read it as "no history" --------------------------------------------

def damaged_history(tmp_path):
    path = tmp_path / "h.sqlite"
    record_history(path, [80.0 + i % 3 for i in range(150)])
    data = bytearray(path.read_bytes())
    page = 4096
    for p in range(3, min(12, len(data) // page - 1)):  # pages 3..11 overwritten (as the attack did to 60..89)
        data[p * page:(p + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_history_stops_the_run_before_training_and_fails_the_gates(tmp_path, capsys):
    path = damaged_history(tmp_path)
    before = path.read_bytes()
    with pytest.raises(SuiteError, match="damaged"):
        session(tmp_path, history=str(path), max_drift=1.0)
    with pytest.raises(SuiteError, match="damaged"):  # also a plain run, which would append into it
        session(tmp_path, history=str(path))
    # the gate itself, should it be reached: a failure naming the history, never "no history, pass"
    from suite.config.profiles import get_profile
    from suite.session.judging import Judging
    judging = Judging(Options(history=str(path), max_drift=1.0), get_profile("smoke"))
    failures = judging.history_failures([dated_result(80.0, day=999)])
    assert failures and "could not read the history" in failures[0]
    code, text = cli(capsys, "history", "show", "--history", path)
    assert code == 2 and "damaged" in error_line(text)
    code, text = cli(capsys, "history", "import", "--history", path, results_file(tmp_path / "r.json", RESULTS))
    assert code == 2 and "damaged" in error_line(text)
    code, text = cli(capsys, "history", "check", tmp_path / "r.json", "--history", path, "--max-drift", "1")
    assert code == 2 and "damaged" in error_line(text)
    assert path.read_bytes() == before


def test_unreadable_history_rows_are_named_in_one_line_before_training(tmp_path, capsys):
    path = tmp_path / "h.sqlite"
    record_history(path, [80.0, 81.0, 80.5])
    with sqlite3.connect(path) as con:
        con.execute("UPDATE records SET versions = '{not json' WHERE id = 1")
        con.execute("UPDATE records SET mean = NULL WHERE id = 3")
        con.execute("UPDATE records SET mean = 1e308 WHERE id = 2")
    code, text = cli(capsys, "history", "show", "--history", path)
    line = error_line(text)
    assert code == 2 and "records 1, 2, 3 cannot be read" in line
    with pytest.raises(SuiteError, match="records 1, 2, 3 cannot be read"):
        session(tmp_path, history=str(path), max_drift=1.0)


def test_an_interrupted_import_leaves_a_file_that_is_initialised_not_refused(tmp_path, capsys):
    path = tmp_path / "h.sqlite"
    with sqlite3.connect(path) as con:  # what an import killed before its first commit leaves: no tables
        con.execute("PRAGMA journal_mode = WAL")
    assert path.stat().st_size > 0
    session(tmp_path, history=str(path), max_drift=1.0)  # no error: an empty history
    code, text = cli(capsys, "history", "import", "--history", path, results_file(tmp_path / "r.json", RESULTS))
    assert code == 0 and "4 new record(s)" in text


def test_sqlite_errors_are_reported_as_what_they_are(tmp_path):
    path = tmp_path / "h.sqlite"
    full = hi._corrupt(path, sqlite3.OperationalError("database or disk is full"))
    assert "no space left" in str(full) and "not a results history" not in str(full)
    readonly = hi._corrupt(path, sqlite3.OperationalError("attempt to write a readonly database"))
    assert "read-only" in str(readonly) and "not a results history" not in str(readonly)
    cant = hi._corrupt(path, sqlite3.OperationalError("unable to open database file"))
    assert "Cannot open" in str(cant)


def test_a_history_in_a_read_only_folder_is_read_without_writing_there(tmp_path, capsys, monkeypatch):
    """A WAL database in a folder that cannot be written (no -shm file can be made): opened immutable, read-only.
    (The folder is made unwritable for this process by its access check: the tests may run as root.)"""
    path = tmp_path / "ro" / "h.sqlite"
    path.parent.mkdir()
    record_history(path, [80.0, 81.0])
    listing = sorted(os.listdir(path.parent))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if (str(p) == str(path.parent) and
                                                                         mode == os.W_OK) else real_access(p, mode))
    con = hi.open_for_read(path)
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == 2
    with pytest.raises(sqlite3.OperationalError):
        con.execute("DELETE FROM records")  # read-only connection
    con.close()
    code, text = cli(capsys, "history", "show", "--history", path)
    assert code == 0 and "sst2/seq_bn" in text
    assert sorted(os.listdir(path.parent)) == listing


def test_history_plot_continues_past_a_case_key_too_long_for_a_file_name(tmp_path, capsys):
    path = tmp_path / "h.sqlite"
    long_method = "seq_bn[" + ",".join(f"leave_out=[{i}]" for i in range(40)) + "]"
    for key in (f"sst2/{long_method}", "sst2/seq_bn"):
        hi.append(path, [dated_result(80.0, day=d, key=key) for d in range(1)], run_id=key)
        hi.append(path, [dated_result(81.0, day=d + 1, key=key) for d in range(1)], run_id=key + "2")
    code, text = cli(capsys, "history", "plot", "--history", path, "--out", tmp_path / "plots")
    assert code == 0, text
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2


# --- state the gates need: checked before training, a gate that would compare nothing fails -------------------

@pytest.mark.parametrize("kw,message", [
    ({"no_history": True, "max_drift": 1.0}, "the gate would compare nothing"),
    ({"no_history": True, "fail_on_change_point": True}, "the gate would compare nothing"),
    ({"methods": "seq_bn", "max_gap": 1.0}, "'full' is not among the methods"),
    ({"methods": "full", "max_gap": 1.0}, "no adapter method"),
    ({"shard": (9, 9)}, "selects none of the"),
])
def test_gates_that_would_compare_nothing_are_refused_before_training(tmp_path, kw, message):
    with pytest.raises(SuiteError, match=message):
        session(tmp_path, **kw)


def test_baselines_dir_naming_a_file_or_a_missing_folder_is_refused(tmp_path):
    a_file = tmp_path / "f.json"
    a_file.write_text("{}")
    for d, message in ((a_file, "is a file"), (tmp_path / "missing", "does not exist")):
        with pytest.raises(SuiteError, match=message):
            BenchSession(Options(profile="smoke", model="tiny", tasks="sst2", baselines_dir=str(d),
                                 history=str(tmp_path / "h.sqlite")))


def test_results_json_may_not_name_the_baseline_file_or_the_history(tmp_path):
    (tmp_path / "b").mkdir()
    baseline = tmp_path / "b" / "smoke.json"
    bl.write_atomic(baseline, {"schema": 2, "entries": {}})
    hist = tmp_path / "h.sqlite"
    for target, what in ((baseline, "the baseline file"), (hist, "the results history")):
        with pytest.raises(SuiteError, match=what):
            BenchSession(Options(profile="smoke", model="tiny", tasks="sst2", baselines_dir=str(tmp_path / "b"),
                                 history=str(hist), results_json=str(target)))


def test_throughput_tolerance_without_a_figure_for_this_hardware_fails_the_case():
    from suite.config.profiles import get_profile
    from suite.session.judging import Judging

    result = make_result((80.0,))
    judging = Judging(Options(throughput_tolerance=10.0), get_profile("unit"))
    judging._baseline_data = {"entries": {bl.entry_key(result): {**bl.entry_from_result(result), "throughput": {
        "cuda:another machine x1": {"train_samples_per_s": 100.0}}}}}
    [failure] = judging.throughput_failures([result])
    assert "no throughput figure for this hardware" in failure


# --- local data range-checked when read, before training ---------------------------------------------------------

STSB_HEAD = "sentence1\tsentence2\tscore\n"
STSB_OK = STSB_HEAD + "".join(f"a {i}\tb {i}\t{i % 5}.0\n" for i in range(40))


def glue_dir(tmp_path, train: str, dev: str, task_dir="STS-B"):
    d = tmp_path / "glue" / task_dir
    d.mkdir(parents=True)
    (d / "train.tsv").write_text(train)
    (d / "dev.tsv").write_text(dev)
    return d.parent


@pytest.mark.parametrize("score", ["nan", "1e308", "-1", "inf"])
def test_an_sts_b_score_out_of_range_stops_the_run_before_training(tmp_path, score):
    d = glue_dir(tmp_path, STSB_OK + f"x\ty\t{score}\n", STSB_OK)
    with pytest.raises(SuiteError, match=rf"train.tsv:42: score '{score}' is outside 0..5"):
        BenchSession(Options(profile="quick", model="tiny", tasks="stsb", methods="full", glue_dir=str(d),
                             history=str(tmp_path / "h.sqlite"))).check_data()  # as the plugin, after -k


def test_a_dev_file_of_one_class_stops_the_run_before_training(tmp_path):
    rows = "sentence\tlabel\n" + "".join(f"film {i}\t{i % 2}\n" for i in range(40))
    one_class = "sentence\tlabel\n" + "".join(f"film {i}\t1\n" for i in range(40))
    d = glue_dir(tmp_path, rows, one_class, task_dir="SST-2")
    with pytest.raises(SuiteError, match="has the same label"):
        BenchSession(Options(profile="quick", model="tiny", tasks="sst2", methods="full", glue_dir=str(d),
                             history=str(tmp_path / "h.sqlite"))).check_data()


@pytest.mark.e2e
def test_a_data_error_is_printed_once_by_python_m_suite_run(tmp_path):
    d = glue_dir(tmp_path, STSB_OK + "x\ty\t1e308\n", STSB_OK)
    proc = subprocess.run([sys.executable, "-m", "suite", "run", "--profile", "quick", "--glue-dir", str(d),
                           "--tasks", "stsb", "--model", "tiny", "--methods", "full", "--no-history"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**clean_env(), "HF_HUB_OFFLINE": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert out.count("score '1e308' is outside 0..5") == 1 and "Traceback" not in out and "During" not in out


@pytest.mark.e2e
def test_shard_beyond_the_cases_under_pytest_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "--shard", "9/9",
                           "--model", "tiny", "--collect-only", "-q"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**clean_env(), "HF_HUB_OFFLINE": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "--shard 9/9 selects none of the" in out
    assert "Traceback" not in out and "pluggy" not in out, out


# --- writes: through symlinks, never over special files, and "no space" names the file ---------------------------

def test_a_symlinked_baseline_file_is_updated_through_the_link(tmp_path, capsys):
    real = tmp_path / "store" / "smoke.json"
    real.parent.mkdir()
    bl.write_atomic(real, {"schema": 2, "entries": {}})
    (tmp_path / "b").mkdir()
    link = tmp_path / "b" / "smoke.json"
    link.symlink_to(real)
    shard = results_file(tmp_path / "r.json", [report_result("sst2", "seq_bn", [89.0], 100)])
    code, text = cli(capsys, "baselines", "update", shard, "--baselines-dir", tmp_path / "b")
    assert code == 0, text
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "sst2/seq_bn@tiny" in json.loads(real.read_text())["entries"]


def test_special_files_are_refused_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SuiteError, match="special file"):
        results_files.write_results(fifo, "smoke", [])
    assert fifo.exists() and not fifo.is_file()
    for target in (fifo, "/dev/stdout"):
        with pytest.raises(SuiteError, match="--results-json: .*special file"):
            preflight.check_file_target(target, "--results-json")
    assert os.path.islink("/dev/stdout")  # still the link to this process's output


def test_no_space_left_names_the_file_and_keeps_the_old_content(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "smoke.json"
    bl.write_atomic(path, {"schema": 2, "entries": {}})
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SuiteError, match=rf"Cannot write {path}: No space left on device"):
        bl.write_atomic(path, {"schema": 2, "entries": {"x": {}}})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["smoke.json"]


def test_a_failed_finish_step_names_its_file_when_the_system_does_not(tmp_path, capsys, monkeypatch):
    import errno

    from suite.session.finish import _Steps

    def full():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write on an open file: no file name

    steps = _Steps()
    steps.run("report", full, tmp_path / "rep")
    assert steps.broken and steps.lines == [f"ERROR (report): No space left on device ({tmp_path / 'rep'})"]
    import suite.report.files as files

    monkeypatch.setattr(files, "write_plots", lambda rows, out: full())
    code, text = cli(capsys, "report", results_file(tmp_path / "r.json", RESULTS[:1]), "--out", tmp_path / "rep")
    assert code == 2 and f"No space left on device ({tmp_path / 'rep'})" in error_line(text)


# --- a second writer of one results file: nothing lost ------------------------------------------------------------

def test_two_runs_writing_one_results_file_lose_no_case(tmp_path):
    path = tmp_path / "r.json"
    rows = [vd.rows([r], {r.key: vd.Verdict(r.key, "pass", "accuracy", 89.0, 89.0, 1.0)}) for r in RESULTS]
    started = results_files.file_state(path)  # every run started before any wrote: no file yet
    threads = [threading.Thread(target=results_files.write_results, args=(path, "smoke", r), kwargs={"since": started})
               for r in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, loaded = results_files.load_results(path)
    assert sorted(r.result.key for r in loaded) == sorted(r.key for r in RESULTS)
    # a later run of the same path that started after the file was written replaces it (a rerun, not a merge)
    since = results_files.file_state(path)
    results_files.write_results(path, "smoke", rows[0], since=since)
    assert [r.result.key for r in results_files.load_results(path)[1]] == [RESULTS[0].key]


def test_two_sessions_finishing_into_one_results_file_lose_no_case(tmp_path):
    """Two runs (pytest or python -m suite run) started before either wrote the file: both finish into it."""
    path = tmp_path / "r.json"
    first, second = (session(tmp_path, results_json=str(path), no_history=True) for _ in range(2))
    first.results, second.results = [RESULTS[0]], [RESULTS[1]]
    lines, broken = first.finish()
    assert not broken, lines
    lines, broken = second.finish()
    assert not broken and any("kept beside this run's" in line for line in lines), lines
    assert sorted(r.result.key for r in results_files.load_results(path)[1]) == sorted([RESULTS[0].key,
                                                                                       RESULTS[1].key])


# --- results files: shards, recomputed verdicts, schema versions, one validated loader --------------------------

def test_report_merge_names_missing_shards_and_fails_unless_allowed(tmp_path, capsys):
    shards = [results_file(tmp_path / f"s{i}.json", [r], shard=(i, 4)) for i, r in enumerate(RESULTS[:3], 1)]
    code, text = cli(capsys, "report", "merge", *shards, "--out", tmp_path / "rep")
    assert code == 2 and "Shard 4/4 missing" in error_line(text) and "--allow-partial" in text
    code, text = cli(capsys, "report", "merge", *shards, "--out", tmp_path / "rep", "--allow-partial")
    assert code == 0 and "shard 4 missing" in text
    code, text = cli(capsys, "report", "merge", *shards[:2], shards[1], "--out", tmp_path / "rep")
    assert code == 2 and "is in both" in error_line(text)


def test_a_recorded_verdict_contradicted_by_its_runs_is_recomputed(tmp_path, capsys):
    failed = make_result((80.0,), status="failed")
    failed.profile = "smoke"
    path = results_file(tmp_path / "r.json", [failed])  # recorded as "pass"
    assert json.loads(path.read_text())["cases"][0]["verdict"]["status"] == "pass"
    for extra in ((), ("--strict-baselines",)):
        code, text = cli(capsys, "report", "merge", path, "--out", tmp_path / "rep", *extra)
        assert code == 1 and "run failed" in text, text
    # a pass recorded against a baseline the runs fall far below: a regression
    low = report_result("sst2", "seq_bn", [60.0, 60.5], 100)
    doc_path = results_file(tmp_path / "low.json", [low])
    doc = json.loads(doc_path.read_text())
    doc["cases"][0]["verdict"]["baseline"] = 90.0
    doc_path.write_text(json.dumps(doc))
    code, text = cli(capsys, "report", doc_path, "--out", tmp_path / "rep")
    assert code == 1 and "regression" in text
    # a recorded failing verdict the runs do not show (no baseline figure to recompute it from): still failing
    doc["cases"][0]["verdict"].update(status="regression", baseline=None, test="paired t", p_value=None)
    doc_path.write_text(json.dumps(doc))
    code, text = cli(capsys, "report", doc_path, "--out", tmp_path / "rep")
    assert code == 1 and "recorded as regression when it ran" in text


@pytest.mark.parametrize("name,change,message", [
    ("schema-99", lambda d: d.update(schema=99), "has results schema 99"),
    ("shards-stripped", lambda d: d.pop("shard_count"), "'shard_count' is a required property"),
    ("profile-nope", lambda d: d.update(profile="nope"), "Unknown profile 'nope'"),
    ("verdict-unknown", lambda d: d["cases"][0]["verdict"].update(status="unknown"), "'unknown' is not one of"),
    ("key-null", lambda d: d["cases"][0].update(key=None), "None is not of type 'string'"),
    ("provenance-list", lambda d: d["cases"][0].update(provenance=[1]), "is not of type 'object'"),
    ("metric-abc", lambda d: d["cases"][0]["runs"][0]["metrics"].update(accuracy="abc"), "'abc' is not of type"),
    ("metric-1e308", lambda d: d["cases"][0]["runs"][0]["metrics"].update(accuracy=1e308), "is out of range"),
    ("metric-200", lambda d: d["cases"][0]["runs"][0]["metrics"].update(accuracy=200.0), "is outside 0..100"),
    ("config-list", lambda d: d["cases"][0].update(config=[1]), "is not of type 'object'"),
    ("hardware-string", lambda d: d["cases"][0]["provenance"].update(hardware="gpu"), "'gpu' is not of type"),
    ("cases-object", lambda d: d.update(cases={"a": 1}), "is not of type 'array'"),
    ("versions-list", lambda d: d["cases"][0]["provenance"].update(versions=["torch"]), "is not of type 'object'"),
])
@pytest.mark.parametrize("command", ["report", "history import", "baselines diff", "baselines update"])
def test_every_reader_applies_one_validated_loader(tmp_path, capsys, name, change, message, command):
    path = results_file(tmp_path / "r.json", RESULTS[:1])
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    extra = {"report": ["--out", tmp_path / "rep"], "history import": ["--history", tmp_path / "h.sqlite"],
             "baselines diff": ["--baselines-dir", tmp_path], "baselines update": ["--baselines-dir", tmp_path]}
    code, text = cli(capsys, *command.split(), path, *extra[command])
    assert code == 2 and message in error_line(text), text
    assert not (tmp_path / "h.sqlite").exists() and not (tmp_path / "smoke.json").exists()


def test_a_missing_verdict_is_recomputed_not_a_key_error(tmp_path, capsys):
    path = results_file(tmp_path / "r.json", RESULTS[:1])
    doc = json.loads(path.read_text())
    del doc["cases"][0]["verdict"]
    path.write_text(json.dumps(doc))
    code, text = cli(capsys, "report", path, "--out", tmp_path / "rep")
    assert code == 0 and "no-baseline" in text
    code, text = cli(capsys, "report", path, "--out", tmp_path / "rep", "--strict-baselines")
    assert code == 1


@pytest.mark.parametrize("argv,message", [
    (["report", "/dev/zero", "--out", "{t}/rep"], "is a character device, not a regular file"),
    (["report", "{baseline}", "--out", "{t}/rep"], "is a baseline file, not a results file"),
    (["history", "import", "{baseline}", "--history", "{t}/h.sqlite"], "is a baseline file, not a results file"),
    (["report", "{results}", "--out", ""], "--out is empty"),
    (["report", "{results}", "--out", "{t}/rep", "--max-gap", "1"], "'full' is not among the methods"),
    (["calibrate", "--simulate", "--seeds", "100000"], "at most 10"),
    (["calibrate", "--from-json", "/dev/zero", "--write-baselines"], "not a regular file"),
    (["calibrate", "--seeds", "100000"], "at most 50"),
    (["perf", "--train-size", "1e20"], "--train-size 1e20 is larger than"),
    (["diagnose", "--task", "sst2", "--method", "seq_bn", "--model", "tiny", "--out", "{baseline}"], "--out"),
    (["diagnose", "--task", "sst2", "--method", "seq_bn", "--model", "tiny", "--cache-dir", "{baseline}"],
     "--cache-dir"),
])
def test_mistakes_found_by_the_attack_are_one_line_before_any_work(tmp_path, capsys, argv, message):
    baseline = tmp_path / "smoke.json"
    bl.write_atomic(baseline, {"schema": 2, "entries": {}})
    results = results_file(tmp_path / "r.json", [report_result("sst2", "seq_bn", [89.0], 100)])
    argv = [a.format(t=tmp_path, baseline=baseline, results=results) for a in argv]
    code, text = cli(capsys, *argv)
    assert code == 2 and message in error_line(text), text


# --- the report: escaped, a step summary that cannot be written is a warning -------------------------------------

def test_report_escapes_values_from_the_results_file(tmp_path, capsys):
    r = report_result("sst2", "seq_bn", [89.0], 100)
    r.provenance["hardware"]["name"] = "cpu\n# pwned <script>alert(1)</script>"
    r.data_origin = "glue-dir:/x`\n<img src=x>"
    path = results_file(tmp_path / "r.json", [r])
    code, text = cli(capsys, "report", path, "--out", tmp_path / "rep")
    assert code == 0, text
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "<script>" not in md and "<img" not in md and "\n# pwned" not in md
    assert "&lt;script&gt;" in md
    html_page = (tmp_path / "rep" / "report.html").read_text()
    assert "<script>" not in html_page and "&amp;lt;" not in html_page


def test_a_step_summary_naming_a_folder_is_a_warning_and_the_verdicts_decide(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))
    ok = results_file(tmp_path / "r.json", [report_result("sst2", "seq_bn", [89.0], 100)])
    code, text = cli(capsys, "report", ok, "--out", tmp_path / "rep")
    assert code == 0 and "seq_bn" in text and "pass" in text
    assert sum("GITHUB_STEP_SUMMARY" in line for line in text.splitlines()) == 1
    failed = make_result((80.0,), status="failed")
    failed.profile = "smoke"
    bad = results_file(tmp_path / "f.json", [failed])
    code, text = cli(capsys, "report", bad, "--out", tmp_path / "rep2")
    assert code == 1 and "run failed" in text and "GITHUB_STEP_SUMMARY" in text


# --- results files that contradict themselves (found by the second attack) ----------------------------------------

def _self_contradicting(tmp_path, mutate):
    path = results_file(tmp_path / "r.json", RESULTS[:1])  # sst2/full, seeds 0 and 1
    doc = json.loads(path.read_text())
    mutate(doc["cases"][0])
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.update(key="sst2/full@someone-else"), "is not its task/method@model"),
    (lambda c: c.update(runs=c["runs"][1:]), "each planned seed runs once"),            # a cherry-picked seed
    (lambda c: [r.update(seed=0) for r in c["runs"]], "each planned seed runs once"),  # one seed counted twice
    (lambda c: c.update(baseline_entry={"metric": "accuracy", "mean": 95.0, "n": 2, "sd": 1000.0}),
     "not one a baseline file can hold"),                                               # an sd that hides any drop
], ids=["renamed-case", "cherry-picked-seed", "duplicate-seed", "entry-without-values"])
def test_a_results_file_that_contradicts_itself_is_refused(tmp_path, capsys, mutate, message):
    path = _self_contradicting(tmp_path, mutate)
    for argv in (["report", path, "--out", tmp_path / "rep"], ["baselines", "update", path, "--baselines-dir",
                                                                tmp_path / "bl"]):
        code, out = cli(capsys, *argv)
        assert code == 2 and message in out, out
    assert not (tmp_path / "bl" / "smoke.json").exists()


def test_a_recorded_update_never_hides_a_regression(tmp_path, capsys):
    """A case recorded as "updated" whose runs fell 20 points below the entry it was judged with: a regression."""
    def fell(case):
        case["verdict"]["status"] = "updated"
        for run in case["runs"]:
            run["metrics"]["accuracy"] -= 20.0

    code, out = cli(capsys, "report", _self_contradicting(tmp_path, fell), "--out", tmp_path / "rep")
    assert code == 1 and "regression" in out and "verdicts: 1 regression" in out, out


def test_an_empty_shard_never_completes_a_merge_and_history_check_of_nothing_fails(tmp_path, capsys):
    one = results_file(tmp_path / "s1.json", RESULTS[:1], shard=(1, 2))
    empty = results_file(tmp_path / "s2.json", [], shard=(2, 2))
    code, out = cli(capsys, "report", "merge", one, empty, "--out", tmp_path / "rep")
    assert code == 2 and "holds no case" in out, out
    db = tmp_path / "h.sqlite"
    hi.append(db, [dated_result(90.0, day=0)])
    code, out = cli(capsys, "history", "check", results_file(tmp_path / "none.json", []), "--history", db,
                    "--max-drift", "1")
    assert code == 1 and "compared nothing" in out, out


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_lock_file_that_is_not_a_plain_file_is_one_line_and_harms_nothing(tmp_path, capsys, kind):
    """A FIFO at smoke.json.lock hung every update; a symlink there had its target truncated."""
    results = results_file(tmp_path / "r.json", RESULTS[:1])
    lock, victim = tmp_path / "bl" / "smoke.json.lock", tmp_path / "victim.txt"
    lock.parent.mkdir()
    victim.write_text("keep me\n")
    os.mkfifo(lock) if kind == "fifo" else lock.symlink_to(victim)
    code, out = cli(capsys, "baselines", "update", results, "--baselines-dir", tmp_path / "bl")
    assert code == 2 and "smoke.json.lock" in out and "move" in out, out
    assert victim.read_text() == "keep me\n" and not (tmp_path / "bl" / "smoke.json").exists()


def test_history_plot_never_writes_into_the_current_folder(tmp_path, capsys, monkeypatch):
    db = tmp_path / "h.sqlite"
    hi.append(db, [dated_result(90.0, day=0)])
    monkeypatch.chdir(tmp_path)
    code, out = cli(capsys, "history", "plot", "--history", db, "--out", "")
    assert code == 2 and "--out is empty" in out and not list(tmp_path.glob("*.png"))


def test_csv_tables_write_through_a_symlink_and_never_over_a_fifo(tmp_path, capsys):
    """report --format csv wrote with a fixed temporary name and replaced a symlinked table with a regular file."""
    results, out = results_file(tmp_path / "r.json", RESULTS[:1]), tmp_path / "tables"
    out.mkdir()
    target = tmp_path / "elsewhere.csv"
    target.write_text("old\n")
    (out / "cases.csv").symlink_to(target)
    code, text = cli(capsys, "report", results, "--format", "csv", "--out", out)
    assert code == 0, text
    assert (out / "cases.csv").is_symlink() and target.read_text().startswith("profile,task,method,model,case,")
    os.unlink(out / "results_long.csv")
    os.mkfifo(out / "results_long.csv")
    code, text = cli(capsys, "report", results, "--format", "csv", "--out", out)
    assert code == 2 and "results_long.csv" in text and "not a regular file" in text, text


# --- the third attack: non-regular and unbounded state files, numbers out of range, history schema and types,
# --- a run of no case, shard bookkeeping, legacy baseline keys, control characters in messages -------------------

@pytest.fixture
def no_hang():
    """A blocking open of a FIFO (or a read of /dev/zero) fails the test after 30 s instead of hanging it."""
    import signal

    def timeout(signum, frame):
        raise TimeoutError("hung: a FIFO or device was opened or read as a file")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, 30)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


ODD_FILES = {  # kind -> what the one line says
    "fifo": "is a FIFO, not a regular file",
    "dev-zero": "is a character device (it links to /dev/zero), not a regular file",
    "huge": "is 300 MiB, larger than such a file can be",
}


def odd_file(path, kind):
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:  # sparse: 300 MiB that take no disk
        with open(path, "wb") as f:
            f.truncate(300 * 2**20)
    return path


@pytest.mark.parametrize("kind", list(ODD_FILES))
def test_state_files_that_are_not_regular_or_too_large_are_one_line_never_a_hang(tmp_path, capsys, no_hang, kind):
    """A FIFO hung the run, a link to /dev/zero read forever: every state file goes through one bounded reader."""
    baseline = odd_file(tmp_path / "bl" / "smoke.json", kind)
    code, text = cli(capsys, "baselines", "show", "--baselines-dir", baseline.parent)
    assert code == 2 and f"{baseline} {ODD_FILES[kind]}" in error_line(text), text
    with pytest.raises(SuiteError, match=ODD_FILES[kind].replace("(", r"\(").replace(")", r"\)")):
        session(tmp_path, baselines_dir=str(baseline.parent))  # the pytest path: before any training
    for argv in (["report", odd_file(tmp_path / "r.json", kind), "--out", tmp_path / "rep"],
                 ["calibrate", "--from-json", odd_file(tmp_path / "cal.json", kind), "--write-baselines"],
                 ["history", "import", tmp_path / "r.json", "--history", tmp_path / "h.sqlite"]):
        code, text = cli(capsys, *argv)
        assert code == 2 and ODD_FILES[kind] in error_line(text), (argv, text)
    assert not (tmp_path / "h.sqlite").exists() and not (tmp_path / "rep").exists()
    if kind != "huge":
        hist = odd_file(tmp_path / "hist" / "h.sqlite", kind)
        for argv in (["history", "show"], ["history", "ack", "sst2/seq_bn"]):
            code, text = cli(capsys, *argv, "--history", hist)
            assert code == 2 and "is a folder or a special file" in error_line(text), text


def test_outputs_that_are_fifos_are_refused_or_a_warning_never_a_hang(tmp_path, capsys, monkeypatch, no_hang):
    results = results_file(tmp_path / "r.json", RESULTS[:2])
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(odd_file(tmp_path / "summary", "fifo")))
    code, text = cli(capsys, "report", results, "--out", tmp_path / "rep")
    assert code == 0 and "sst2" in text and "pass" in text, text
    [warning] = [line for line in text.splitlines() if "GITHUB_STEP_SUMMARY" in line]
    assert "is a FIFO, not a regular file" in warning
    db = tmp_path / "h.sqlite"
    hi.append(db, [dated_result(90.0, day=0)])
    from suite.report.history_plot import file_name
    odd_file(tmp_path / "plots" / file_name("smoke", "sst2/seq_bn@tiny"), "fifo")
    code, text = cli(capsys, "history", "plot", "--history", db, "--out", tmp_path / "plots")
    assert code == 2 and "special file" in error_line(text), text
    code, text = cli(capsys, "calibrate", "--model", "tiny", "--tasks", "sst2", "--methods", "seq_bn", "--seeds",
                     "2", "--out", odd_file(tmp_path / "cal.json", "fifo"))
    assert code == 2 and "--out" in error_line(text) and "special file" in text, text


def test_cache_entries_that_are_fifos_are_rebuilt_never_a_hang(tmp_path, no_hang):
    """The tokenized-data cache and diagnose's run cache read their own files through the same bounded reader: a
    FIFO (or a damaged file) there is a miss, rebuilt, never a blocking read."""
    from suite.data import token_cache
    from suite.tools.diagnose.run_cache import DiskCache

    entry = tmp_path / "entry"
    odd_file(entry / token_cache.CHECKSUMS, "fifo")
    (entry / "data.arrow").write_bytes(b"x")
    assert token_cache.verified(entry) is False
    runs = []
    cache = DiskCache(tmp_path / "runs", lambda case: runs.append(case) or make_result((80.0,)))
    from helpers import tiny_case
    path, _ = cache._entry(tiny_case())
    odd_file(path, "fifo")
    assert cache(tiny_case()).ok and len(runs) == 1 and cache.hits == 0  # recomputed; the FIFO left alone
    assert not path.is_file()


BIG = "9" * 400


def _literal_in(path, where, literal):
    """The JSON file at ``path`` with the value at ``where`` (a list of keys) replaced by the literal text."""
    doc = json.loads(path.read_text())
    node = doc
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = "@@LITERAL@@"
    path.write_text(json.dumps(doc).replace('"@@LITERAL@@"', literal))
    return path


@pytest.mark.parametrize("where, literal, message", [
    (["cases", 0, "runs", 0, "metrics", "accuracy"], BIG, "cases/0/runs/0/metrics/accuracy: 999999999999... (400 "
                                                          "digits) is out of range"),
    (["cases", 0, "runs", 0, "seed"], BIG, "cases/0/runs/0/seed: 999999999999... (400 digits) is out of range"),
    (["cases", 0, "runs", 0, "train_samples_per_s"], "1.5e308", "train_samples_per_s: 1.5e+308 is out of range"),
    (["cases", 0, "runs", 1, "train_samples_per_s"], "1e999", "train_samples_per_s: 1e999 is out of range"),
    (["cases", 0, "verdict", "tolerance"], "1e9", "tolerance: 1000000000.0 is greater than the maximum of 50"),
    (["cases", 0, "prepare_time_s"], "-" + BIG, "prepare_time_s: -99999999999... (400 digits) is out of range"),
], ids=["metric-400-digits", "seed-400-digits", "throughput-1.5e308", "throughput-1e999", "verdict-tolerance-1e9",
        "negative-400-digits"])
@pytest.mark.parametrize("command", ["report", "history import", "baselines update"])
def test_numbers_out_of_range_in_a_results_file_are_one_line_naming_the_field(tmp_path, capsys, where, literal,
                                                                             message, command):
    path = _literal_in(results_file(tmp_path / "r.json", RESULTS[:1]), where, literal)
    extra = {"report": ["--out", tmp_path / "rep"], "history import": ["--history", tmp_path / "h.sqlite"],
             "baselines update": ["--baselines-dir", tmp_path]}
    code, text = cli(capsys, *command.split(), path, *extra[command])
    line = error_line(text)
    assert code == 2 and str(path) in line and message in line, text
    assert not (tmp_path / "h.sqlite").exists() and not (tmp_path / "smoke.json").exists()


@pytest.mark.parametrize("field, literal, message", [
    ("mean", BIG, "mean: 999999999999... (400 digits) is out of range"),
    ("mean", "1e999", "mean: 1e999 is out of range"),
    ("tolerance", "1e9", "tolerance: 1000000000.0 is greater than the maximum of 50"),
    ("tolerance", "51", "tolerance: 51 is greater than the maximum of 50"),
    ("tolerance", "-1", "tolerance: -1 is less than the minimum of 0"),
    ("sd", "1e999", "sd: 1e999 is out of range"),
], ids=["mean-400-digits", "mean-1e999", "tolerance-1e9", "tolerance-51", "tolerance-negative", "sd-1e999"])
def test_numbers_out_of_range_in_a_baseline_file_are_one_line_naming_the_field(tmp_path, capsys, field, literal,
                                                                              message):
    path = tmp_path / "smoke.json"
    bl.update(path, "smoke", [report_result("sst2", "seq_bn", [89.0], 100)])
    _literal_in(path, ["entries", "sst2/seq_bn@tiny", field], literal)
    before = path.read_bytes()
    for argv in (["baselines", "show"], ["baselines", "check"]):
        code, text = cli(capsys, *argv, "--baselines-dir", tmp_path)
        assert code == 2 and message in error_line(text) and str(path) in text, text
    with pytest.raises(SuiteError, match=message.replace("+", r"\+").replace("(", r"\(").replace(")", r"\)")):
        session(tmp_path, baselines_dir=str(tmp_path))
    code, text = cli(capsys, "baselines", "update", results_file(tmp_path / "r.json", RESULTS[1:2]),
                     "--baselines-dir", tmp_path)
    assert code == 2 and message in error_line(text)
    assert path.read_bytes() == before


def test_a_calibration_file_with_an_infinite_number_is_refused(tmp_path, capsys):
    path = tmp_path / "cal.json"
    path.write_text('{"profile": "smoke", "cases": [{"key": "sst2/seq_bn@tiny", "values": [80.0, 1e999]}]}')
    code, text = cli(capsys, "calibrate", "--from-json", path, "--write-baselines", "--baselines-dir", tmp_path)
    assert code == 2 and "cases/0/values/1: 1e999 is out of range" in error_line(text), text


def _drop_column(con, table, column):
    con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def _ack_table_without_note(con):
    con.execute("DROP TABLE acks")
    con.execute("CREATE TABLE acks (id INTEGER PRIMARY KEY, profile TEXT, case_key TEXT, through_date TEXT, "
                "level_from TEXT, added TEXT)")


def _blob_ack_date(con):
    con.execute("INSERT INTO acks (profile, case_key, through_date, level_from, note, added) VALUES "
                "('smoke', 'sst2/seq_bn@tiny', X'00ff', '2025-01-01', NULL, '2025-01-01')")


@pytest.mark.parametrize("damage, message", [
    (lambda con: _drop_column(con, "records", "model"), "table records lacks the column model"),
    (lambda con: _drop_column(con, "records", "train_samples_per_s"), "lacks the column train_samples_per_s"),
    (_ack_table_without_note, "table acks lacks the column note"),
    (lambda con: con.execute("UPDATE records SET n = 'three' WHERE id = 2"), "record 2 cannot be read (n = 'three' "
                                                                            "is not an integer)"),
    (lambda con: con.execute("UPDATE records SET sd = 'wide' WHERE id = 1"), "sd = 'wide' is not a finite number"),
    (lambda con: con.execute("UPDATE records SET train_samples_per_s = 'fast' WHERE id = 3"),
     "train_samples_per_s = 'fast' is not a finite number"),
    (lambda con: con.execute("UPDATE records SET train_samples_per_s = 1.5e308 WHERE id = 3"),
     "train_samples_per_s = 1.5e+308 is outside 0..1e+18"),
    (lambda con: con.execute("UPDATE records SET date = X'00ff' WHERE id = 1"), "date = b'\\x00\\xff' is not text"),
    (_blob_ack_date, "acknowledgement 1 cannot be read (through_date = b'\\x00\\xff' is not text)"),
], ids=["no-model-column", "no-throughput-column", "acks-without-note", "n-text", "sd-text", "throughput-text",
        "throughput-1.5e308", "date-blob", "ack-date-blob"])
def test_a_history_of_another_schema_or_wrong_types_fails_every_reader_before_it_reads(tmp_path, capsys, damage,
                                                                                      message):
    """Missing columns and values of the wrong type passed the integrity check and tracebacked later; every history
    command (ack would even write into the file) now runs the same check first, and the gates fail on it."""
    path = tmp_path / "h.sqlite"
    record_history(path, [80.0, 81.0, 80.5])
    with sqlite3.connect(path) as con:
        damage(con)
    con.close()
    before = path.read_bytes()
    with pytest.raises(SuiteError, match=re.escape(message)):
        session(tmp_path, history=str(path), max_drift=1.0)  # the pytest path, before any training
    with pytest.raises(SuiteError, match=re.escape(message)):
        hi.check(path)
    from suite.config.profiles import get_profile
    from suite.session.judging import Judging
    [failure] = Judging(Options(history=str(path), max_drift=1.0, fail_on_change_point=True),
                        get_profile("smoke")).history_failures([dated_result(80.0, day=999)])
    assert "could not read the history" in failure and message in failure
    results = results_file(tmp_path / "r.json", [dated_result(80.0, day=9)])
    for argv in (["show"], ["blame", "sst2/seq_bn"], ["plot", "--out", tmp_path / "plots"], ["ack", "sst2/seq_bn"],
                 ["import", results], ["check", results, "--max-drift", "1"]):
        code, text = cli(capsys, "history", *argv, "--history", path)
        assert code == 2 and message in error_line(text), (argv, text)
    assert path.read_bytes() == before and not (tmp_path / "plots").exists()


def test_a_run_of_no_case_never_replaces_a_results_file(tmp_path):
    """pytest --collect-only --results-json F overwrote F with an empty cases list."""
    path = results_file(tmp_path / "r.json", RESULTS[:2])
    before = path.read_bytes()
    s = session(tmp_path, results_json=str(path), no_history=True)  # nothing ran (collect-only, all deselected)
    lines, broken = s.finish()
    assert not broken and any("no case ran" in line and "left as it was" in line for line in lines), lines
    assert path.read_bytes() == before
    s = session(tmp_path, results_json=str(path), no_history=True)
    s.interrupted, s.interrupted_by = True, "SIGINT"  # Ctrl-C before the first case finished
    lines, _ = s.finish(interrupted=True)
    assert "left as it was" in lines[0] and path.read_bytes() == before, lines
    fresh = tmp_path / "new.json"  # no file yet: the run's (empty) file is written, as a shard that ran nothing
    session(tmp_path, results_json=str(fresh), no_history=True).finish()
    assert json.loads(fresh.read_text())["cases"] == []


def test_shard_bookkeeping_that_contradicts_itself_is_refused(tmp_path, capsys):
    def edited(name, change, shard=None):
        path = results_file(tmp_path / name, RESULTS[:1], shard=shard)
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))
        return path

    seventh = edited("s7.json", lambda d: d.update(shards=[7]))
    code, text = cli(capsys, "report", "merge", seventh, "--out", tmp_path / "rep")
    assert code == 2 and "records shard 7 of shard_count 1" in error_line(text), text
    other_profile = edited("p.json", lambda d: d["cases"][0].update(profile="quick"))
    code, text = cli(capsys, "report", "merge", other_profile, "--out", tmp_path / "rep")
    assert code == 2 and "is of profile quick, the file of profile smoke" in error_line(text), text
    from factories import handwritten_results_file
    legacy = handwritten_results_file(tmp_path / "old.json", [report_result("sst2", "seq_bn", [89.0], 100)])
    code, text = cli(capsys, "report", "merge", legacy, "--out", tmp_path / "rep")
    assert code == 2 and "records no shard (results schema 1" in error_line(text) and "--allow-partial" in text
    assert not (tmp_path / "rep").exists()
    code, text = cli(capsys, "report", "merge", legacy, "--out", tmp_path / "rep", "--allow-partial")
    assert code == 0, text


def test_baselines_check_counts_only_the_keys_the_judge_uses_and_refuses_unknown_schemas(tmp_path, capsys):
    path = tmp_path / "smoke.json"
    bl.update(path, "smoke", [report_result("sst2", "seq_bn", [89.0], 100)])
    doc = json.loads(path.read_text())
    entry = doc["entries"].pop("sst2/seq_bn@tiny")
    doc["entries"]["sst2/seq_bn"] = entry  # as recorded before keys named the model: never looked up
    path.write_text(json.dumps(doc))
    code, text = cli(capsys, "baselines", "check", "--baselines-dir", tmp_path)
    assert code == 1 and "no smoke baselines yet" in text and "1 legacy task/method entry (sst2/seq_bn)" in text
    assert "--update-baselines" in text and "task/method@MODEL" in text
    doc["entries"]["sst2/full@tiny"] = entry
    path.write_text(json.dumps(doc))
    code, text = cli(capsys, "baselines", "check", "--baselines-dir", tmp_path)
    assert code == 0 and "1 entry to gate against; 1 legacy" in text, text
    path.write_text(json.dumps({**doc, "schema": 99}))
    code, text = cli(capsys, "baselines", "check", "--baselines-dir", tmp_path)
    assert code == 2 and "baseline schema 99; this suite reads schemas 1, 2" in error_line(text), text
    with pytest.raises(SuiteError, match="baseline schema 99"):  # the judge's loader says the same
        session(tmp_path, baselines_dir=str(tmp_path))


def test_control_characters_in_paths_and_keys_stay_escaped_on_one_line(tmp_path, capsys):
    odd = tmp_path / "two\nlines\x1b[31m.json"
    odd.write_text("{not json")
    code, text = cli(capsys, "report", odd, "--out", tmp_path / "rep")
    assert code == 2 and "two\\nlines\\x1b[31m.json" in error_line(text) and "\x1b" not in text, text
    path = tmp_path / "smoke.json"
    bl.update(path, "smoke", [report_result("sst2", "seq_bn", [89.0], 100)])
    doc = json.loads(path.read_text())
    doc["entries"]["sst2/x\n# pwned <script>|@tiny"] = doc["entries"]["sst2/seq_bn@tiny"]
    path.write_text(json.dumps(doc))
    code, text = cli(capsys, "baselines", "show", "--baselines-dir", tmp_path)
    assert code == 0 and "\n# pwned" not in text and "<script>" not in text, text
    assert "sst2/x\\n# pwned &lt;script&gt;\\|@tiny" in text


@pytest.mark.e2e
def test_the_third_attack_through_pytest_is_one_line_and_harms_nothing(tmp_path):
    """The same classes through `pytest benchmarks` itself (one subprocess, run_pytest_many): a FIFO or /dev/zero as
    the baseline file (a hang), a 400-digit mean (an INTERNALERROR), 1e999, an unbounded tolerance, schema 99, a
    history without a column, and --collect-only over an existing results file (emptied)."""
    def baseline_dir(name, make):
        d = tmp_path / name
        d.mkdir()
        make(d / "smoke.json")
        return d

    def entry_with(field, literal):
        def make(path):
            bl.update(path, "smoke", [report_result("sst2", "seq_bn", [89.0], 100)])
            _literal_in(path, ["entries", "sst2/seq_bn@tiny", field], literal)
        return make

    def schema_99(path):
        path.write_text(json.dumps({"schema": 99, "entries": {}}))

    hist = tmp_path / "h.sqlite"
    record_history(hist, [80.0, 81.0, 80.5])
    with sqlite3.connect(hist) as con:
        con.execute("ALTER TABLE records DROP COLUMN model")
    con.close()
    results = results_file(tmp_path / "r.json", RESULTS[:2])
    kept = {p: p.read_bytes() for p in (hist, results)}
    cases = {  # name -> (baselines folder, extra arguments, the message)
        "fifo": (baseline_dir("fifo", lambda p: odd_file(p, "fifo")), [], "is a FIFO, not a regular file"),
        "dev-zero": (baseline_dir("zero", lambda p: odd_file(p, "dev-zero")), [], "is a character device"),
        "mean-400-digits": (baseline_dir("big", entry_with("mean", BIG)), [], "(400 digits) is out of range"),
        "mean-1e999": (baseline_dir("inf", entry_with("mean", "1e999")), [], "mean: 1e999 is out of range"),
        "tolerance-1e9": (baseline_dir("tol", entry_with("tolerance", "1e9")), [], "greater than the maximum of 50"),
        "schema-99": (baseline_dir("s99", schema_99), [], "baseline schema 99"),
        "history-without-a-column": (ROOT / "baselines", ["--history", str(hist), "--max-drift", "1"],
                                     "table records lacks the column model"),
        "collect-only-results": (ROOT / "baselines", ["--results-json", str(results), "--no-history"], None),
    }
    runs = run_pytest_many({name: ["--baselines-dir", str(d), "--model", "tiny", "--collect-only", "-q", *extra]
                            for name, (d, extra, _) in cases.items()}, timeout=600)
    for name, (_, _, message) in cases.items():
        code, out = runs[name]
        assert "Traceback" not in out and "INTERNALERROR" not in out, (name, out)
        if message is None:
            assert code == 0 and "left as it was" in out, (name, out)
        else:
            assert code == 4 and out.count(message) == 1, (name, out)
    assert all(p.read_bytes() == b for p, b in kept.items())
