"""Reports (suite/report/): Markdown/HTML/plots from results, the paired gap, the Pareto front, the published
context column, the page in a headless browser. (`python -m suite report`: tests/test_commands.py.)"""

import shutil
import subprocess

import pytest
from factories import RESULTS, judged_rows, report_result

from suite.report.files import paired_gap, pareto, write_report


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


def test_report_format_csv_is_tidy_for_pandas(tmp_path, capsys):
    """`python -m suite report FILE --format csv`: one row per case x seed x metric, and one per case, each keyed
    task/method@model; read by pandas with no options (when pandas is installed)."""
    import csv

    from factories import results_file

    from suite.__main__ import main

    f = results_file(tmp_path / "r.json", RESULTS[:2])
    code = main(["report", str(f), "--out", str(tmp_path / "csv"), "--format", "csv"])
    out = capsys.readouterr().out
    assert code == 0 and "wrote" in out and "results_long.csv" in out
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["cases.csv", "results_long.csv"]  # no plots
    long = list(csv.DictReader(open(tmp_path / "csv" / "results_long.csv")))
    quality = [r for r in long if r["kind"] == "quality"]
    assert [(r["case"], r["seed"], r["metric"], r["value"]) for r in quality] == [
        ("sst2/full@tiny", "0", "accuracy", "90.0"), ("sst2/full@tiny", "1", "accuracy", "91.0"),
        ("sst2/seq_bn@tiny", "0", "accuracy", "89.0"), ("sst2/seq_bn@tiny", "1", "accuracy", "89.5")]
    assert {r["metric"] for r in long if r["kind"] == "speed"} >= {"train_samples_per_s", "eval_samples_per_s"}
    cases = {r["case"]: r for r in csv.DictReader(open(tmp_path / "csv" / "cases.csv"))}
    seq = cases["sst2/seq_bn@tiny"]
    assert (seq["task"], seq["method"], seq["model"], seq["mean"], seq["n"], seq["verdict"], seq["gap_vs_full"]) == (
        "sst2", "seq_bn", "tiny", "89.25", "2", "pass", "-1.25")
    assert cases["sst2/full@tiny"]["gap_vs_full"] == ""  # none: an empty cell

    from suite.report import tidy

    [one_seed] = tidy.case_rows(judged_rows([report_result("sst2", "full", [70.0], 1000, model="minilm")]))
    assert one_seed["case"] == "sst2/full@minilm" and one_seed["sd"] is None and one_seed["n"] == 1  # no sd: 1 seed
    from factories import make_result
    [failed] = tidy.long_rows(judged_rows([make_result((80.0,), status="failed")]))
    assert failed["status"] == "failed" and failed["value"] is None and failed["metric"] == "accuracy"

    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(tmp_path / "csv" / "results_long.csv")
    assert list(frame.columns) == tidy.LONG_COLUMNS
    means = frame[frame["primary"]].groupby("case")["value"].mean()
    assert means["sst2/seq_bn@tiny"] == pytest.approx(89.25) and means["sst2/full@tiny"] == pytest.approx(90.5)
    cases_frame = pd.read_csv(tmp_path / "csv" / "cases.csv")
    assert cases_frame.set_index("case").loc["sst2/seq_bn@tiny", "gap_vs_full"] == pytest.approx(-1.25)
    assert pd.isna(cases_frame.set_index("case").loc["sst2/full@tiny", "gap_vs_full"])
