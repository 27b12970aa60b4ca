"""Reports: Markdown/HTML/plots from results, the merge of shards, the published context column, progress."""

import shutil
import subprocess

import pytest
from factories import RESULTS, judged_rows, report_result, results_file

from suite.report import table as report
from suite.report.files import paired_gap, pareto, write_report
from suite.store import results_files


def test_pareto_front():
    pts = [(1000, 90.5), (100, 89.25), (50, 88.0), (10, 80.5), (200, 85.0)]
    assert pareto(pts) == [3, 2, 1, 0]  # (200, 85) is beaten by (100, 89.25)


def test_paired_gap_uses_matching_seeds():
    rows = judged_rows(RESULTS)
    mean, sd = paired_gap(rows[1])
    assert mean == pytest.approx(-1.25) and sd == pytest.approx(0.3535, abs=1e-3)  # diffs -1.0, -1.5
    assert paired_gap(rows[0]) is None


def test_report_files(tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    files = write_report(judged_rows(RESULTS), tmp_path / "rep")
    names = sorted(f.name for f in files)
    assert names == ["gap_to_full.png", "quality_vs_params.png", "report.html", "report.md", "train_throughput.png"]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.index("## Summary") < md.index("## sst2") < md.index("## Plots")
    assert "| seq_bn | 89.25 ± 0.35 | 0: 89.00, 1: 89.50 | -1.25 ± 0.35 |" in md
    assert "2.20x" in md and "published" not in md
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "src='http" not in page and "<link" not in page
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 5000
    s = summary.read_text()
    assert s.startswith("earlier step\n") and "| sst2 | seq_bn | accuracy |" in s


def test_published_numbers_only_as_context_for_the_paper_profile(tmp_path):
    paper = [report_result("sst2", "full", [92.0], 1000, profile="paper", model="bert-base-uncased"),
             report_result("sst2", "seq_bn", [91.0], 100, profile="paper", model="bert-base-uncased")]
    write_report(judged_rows(paper), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "92.39 (published)" in md and "91.85 (published)" in md and "they never gate" in md


def test_merged_shards_equal_the_unsharded_report(tmp_path):
    whole = results_file(tmp_path / "all.json", RESULTS)
    a = results_file(tmp_path / "a.json", RESULTS[:2])
    b = results_file(tmp_path / "b.json", RESULTS[2:])
    _, merged = results_files.merge([a, b])
    _, single = results_files.merge([whole])
    assert report.to_text(merged) == report.to_text(single)
    assert [r.verdict.to_dict() for r in merged] == [r.verdict.to_dict() for r in single]


@pytest.mark.e2e
def test_report_cli(tmp_path):
    import sys

    from helpers import ROOT

    f = results_file(tmp_path / "r.json", RESULTS)
    out = subprocess.run([sys.executable, "-m", "suite", "report", str(f), "--out", str(tmp_path / "rep")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stdout and (tmp_path / "rep" / "report.html").exists()


def test_progress_is_quiet_under_ci(monkeypatch):
    from suite.engine import progress

    monkeypatch.setenv("CI", "true")
    assert progress.quiet()
    assert progress.bar(10, "x").disable


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_report_renders_in_headless_chromium(tmp_path):
    write_report(judged_rows(RESULTS), tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1800", f"--screenshot={shot}",
                    (tmp_path / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20000


@pytest.mark.e2e
def test_report_merge_judges_the_gap_gate_across_shards(tmp_path):
    """Under shards, the gap gate is judged where all results are: `report merge --max-gap` sets the exit status."""
    import sys

    from helpers import ROOT

    a = results_file(tmp_path / "a.json", RESULTS[:1])   # full fine-tuning on one runner
    b = results_file(tmp_path / "b.json", RESULTS[1:2])  # seq_bn on another: trails by 1.25
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "suite", "report", "merge", str(a), str(b), "--out",
                               str(tmp_path / "rep"), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run("--max-gap", "2").returncode == 0
    failed = run("--max-gap", "1")
    assert failed.returncode == 1 and "trails full fine-tuning by 1.25 points" in failed.stdout
    alone = subprocess.run([sys.executable, "-m", "suite", "report", str(b), "--out", str(tmp_path / "rep2"),
                            "--max-gap", "5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert alone.returncode == 1 and "cannot judge" in alone.stdout  # no reference: never a silent pass


def test_a_nan_metric_round_trips_through_the_results_file_and_still_fails(tmp_path):
    """Constant STS-B predictions give Pearson NaN: the results file stays strict JSON (null) and loads back as a
    failed case, never as a pass."""
    from suite.gate import verdicts as vd

    r = report_result("sst2", "seq_bn", [float("nan")], 100)
    rows = vd.rows([r], {r.key: vd.judge(r, None, vd.Policy(tolerance=1.0))})
    assert rows[0].verdict.status == "failed"
    path = tmp_path / "nan.json"
    results_files.write_results(path, "smoke", rows)
    assert "NaN" not in path.read_text()
    _, loaded = results_files.load_results(path)
    assert vd.judge(loaded[0].result, None, vd.Policy(tolerance=1.0)).status == "failed"


@pytest.mark.e2e
def test_report_max_gap_given_empty_is_an_error_not_off(tmp_path):
    import sys

    from helpers import ROOT
    out = subprocess.run([sys.executable, "-m", "suite", "report", str(tmp_path / "x.json"), "--out",
                          str(tmp_path / "rep"), "--max-gap", ""], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "--max-gap must be a number of points" in out.stderr


def test_baselines_show_of_a_missing_folder_is_an_error(tmp_path):
    from suite.commands import baselines as cli
    from suite.errors import SuiteError

    with pytest.raises(SuiteError, match="does not exist"):
        cli.baselines_show("smoke", tmp_path / "nope")
    assert "no entries" in cli.baselines_show("smoke", tmp_path)  # an existing empty folder: nothing recorded yet


def test_a_schema_problem_under_a_key_with_a_newline_is_still_one_line():
    """Found by the property test: the JSON path of the problem quoted a key holding a newline verbatim."""
    from suite.gate.baselines import schema_problem
    from suite.store.results_files import results_problem

    for problem in (schema_problem({"schema": 1, "entries": {"a\nb": {"mean": "x"}}}),
                    results_problem({"cases": [{"floor": {"\n": None}}]}),
                    results_problem({"cases": {"\n": 1}})):
        assert problem and "\n" not in problem, problem
