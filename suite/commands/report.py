"""``python -m suite report [merge] RESULTS.json ...``: merge results files (the shards of one run), write the
Markdown + HTML report and plots, and judge what needs every result together: the run fails (exit 1) as
``suite.gate.outcome`` decides."""

from __future__ import annotations

from suite.commands.common import print_text, terminal_width
from suite.config.options import parse_max_gap
from suite.errors import SuiteError
from suite.gate import outcome
from suite.gate import verdicts as vd
from suite.report.files import write_report
from suite.report.summary import render_summary
from suite.report.tidy import write_csv
from suite.session.preflight import check_out_dir
from suite.store import results_files

NAME = "report"
HELP = "Markdown + HTML report and plots from one or more results files (merged); exit 1 when the merged run fails"


def add_arguments(parser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULTS.json",
                        help="files written by --results-json (shards of one run are merged); a first word 'merge' "
                             "is allowed: report merge a.json b.json")
    parser.add_argument("--out", default="results/report", metavar="DIR",
                        help="folder for report.md, report.html and the PNG plots (--format csv: the CSV files)")
    parser.add_argument("--format", default="report", choices=["report", "csv"], dest="fmt",
                        help="report: report.md, report.html and plots; csv: tidy tables for pandas, "
                             "results_long.csv (one row per case x seed x metric) and cases.csv (one row per case)")
    parser.add_argument("--max-gap", default=None, metavar="POINTS", help="fail (exit 1) an adapter trailing full "
                        "fine-tuning by more than POINTS in the merged results")
    parser.add_argument("--strict-baselines", action="store_true", help="exit 1 when a case had no usable baseline")
    parser.add_argument("--allow-partial", action="store_true", help="report the shards given even when some of the "
                        "run's shards are missing (they are named); without it a missing shard is an error")


def run(args) -> int:
    paths = args.results[1:] if args.results[0] == "merge" else args.results
    max_gap = parse_max_gap(args.max_gap) if args.max_gap is not None else None
    text, failed = make_report(paths, args.out, strict=args.strict_baselines, max_gap=max_gap, fmt=args.fmt,
                               allow_partial=args.allow_partial)
    print_text(text)
    return 1 if failed else 0


def make_report(results_paths, out_dir, *, max_gap: float | None = None, strict: bool = False,
                fmt: str = "report", allow_partial: bool = False) -> tuple[str, bool]:
    """Merge results files (shards; every shard of the run unless ``allow_partial``), write the report (or the
    CSV tables), and judge the merged run: each verdict recomputed from its runs, and --max-gap over the merged
    set. Returns (text, whether the merged run fails)."""
    if not str(out_dir).strip():
        raise SuiteError("--out is empty; name the folder for the report (default: results/report).")
    profile, rows, missing = results_files.merge_shards(results_paths, allow_partial=allow_partial)
    if not rows:
        return "no cases in these results files: nothing was compared", True
    problem = outcome.gap_gate_problem(row.result.method for row in rows) if max_gap is not None else None
    if problem:
        raise SuiteError(problem + ".")
    check_out_dir(out_dir, "--out")  # a file on the way, or a folder that cannot be written: one line
    results = [row.result for row in rows]
    gaps = vd.gap_failures(results, max_gap)
    warnings: list[str] = []
    try:
        if fmt == "csv":
            files = write_csv(rows, out_dir)
        else:
            files = write_report(rows, out_dir, title=f"glue-adapter-bench: profile {profile}", warnings=warnings,
                                 gates=vd.gap_gate_lines(results, max_gap, gaps))
    except OSError as exc:  # disk full while a plot is saved, say: name the file, not only the error
        raise SuiteError(f"Cannot write the report: {exc.strerror or exc} ({exc.filename or out_dir}).") from None
    failed = outcome.run_outcome(rows, strict=strict, gap_failures=gaps).failed
    text = render_summary(rows, profile, gap_failures=gaps, strict=strict, width=terminal_width(), max_gap=max_gap)
    partial = [f"--allow-partial: shard{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} missing, "
               "their cases are not in this report"] if missing else []
    verdict = [_closing_line(rows, gaps, strict, failed)]
    return "\n".join([text, *partial, *[f"wrote {f}" for f in files], *warnings, *verdict]), failed


def _closing_line(rows, gaps: list[str], strict: bool, failed: bool) -> str:
    """The last line: whether the merged run passes, and why not (the details are above)."""
    if not failed:
        return "the merged run passes"
    bad = sum(1 for row in rows if row.verdict.fails(strict))
    why = [f"{bad} failing verdict{'s' if bad != 1 else ''}"] if bad else []
    why += [f"{len(gaps)} adapter case{'s' if len(gaps) != 1 else ''} beyond --max-gap"] if gaps else []
    return f"FAILED: {', '.join(why) or 'nothing was compared'} (details above)"
