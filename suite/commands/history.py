"""``python -m suite history import|show|plot|blame|ack``: the results history (SQLite), its drift and change points,
and accepting a step (``ack``) so that the history gates stop failing it."""

from __future__ import annotations

import os
from pathlib import Path

from suite.config.options import BY_DEST, parse_max_drift
from suite.config.paths import DEFAULT_HISTORY
from suite.errors import SuiteError
from suite.report.history_plot import write_plots
from suite.store import history as hi
from suite.store import results_files

NAME = "history"
HELP = "results history (SQLite): import, show, plot, blame, ack; check: the drift and change-point gates"
CASE_HELP = "task/method@model, e.g. sst2/seq_bn@minilm (task/method: every model's)"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fmt = parser.formatter_class
    imp = actions.add_parser("import", formatter_class=fmt,
                             help="add results files (idempotent: re-importing adds nothing)")
    imp.add_argument("results", nargs="+", metavar="RESULTS.json", help="files written by --results-json")
    show = actions.add_parser("show", formatter_class=fmt,
                              help="each case's series, with change points, releases and baseline updates marked")
    plot = actions.add_parser("plot", formatter_class=fmt, help="one trend PNG per case")
    plot.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs")
    for p in (show, plot):
        p.add_argument("--case", default=None, help=f"only this case: {CASE_HELP} (default: every case)")
    check = actions.add_parser("check", formatter_class=fmt,
                               help="the history gates on results files (the merged shards of a CI run, imported "
                                    "first): exit 1 when a case drifted or a new step down ends in it")
    check.add_argument("results", nargs="+", metavar="RESULTS.json", help="files written by --results-json")
    check.add_argument("--max-drift", default=None, metavar="POINTS", help=BY_DEST["max_drift"].help)
    check.add_argument("--fail-on-change-point", action="store_true", help=BY_DEST["fail_on_change_point"].help)
    blame = actions.add_parser("blame", formatter_class=fmt,
                               help="the first run after a case's largest change point, and what changed")
    blame.add_argument("case", help=CASE_HELP)
    ack = actions.add_parser("ack", formatter_class=fmt,
                             help="accept a case's current level: its change points stop failing "
                                  "--fail-on-change-point and --max-drift's reference restarts there")
    ack.add_argument("case", help=CASE_HELP)
    ack.add_argument("--note", default="", help="why the change is accepted (stored with the acknowledgement)")
    for p in (show, plot, blame, ack):
        p.add_argument("--profile", default=None, help="only this profile's runs (default: every profile)")
    for p in (imp, show, plot, check, blame, ack):
        p.add_argument("--history", default=None, metavar="PATH",
                       help="the history database (default: $GLUE_BENCH_HISTORY, else results/history.sqlite in "
                            "the project)")


def run(args) -> int:
    if args.action == "check":
        text, failed = history_check(args.results, history_path(args.history),
                                     max_drift=None if args.max_drift is None else parse_max_drift(args.max_drift),
                                     change_points=args.fail_on_change_point)
        print(text)
        return 1 if failed else 0
    print(history_command(args))
    return 0


def history_check(results_paths, path: Path, *, max_drift: float | None, change_points: bool) -> tuple[str, bool]:
    """--max-drift and --fail-on-change-point for the cases of results files (merged as ``report merge`` merges
    them) against the history at ``path``. A gate that compared nothing fails: every case that ran must have its
    series in the history (import the results first). Returns (text, whether it fails)."""
    if max_drift is None and not change_points:
        raise SuiteError("history check: name a gate: --max-drift POINTS and/or --fail-on-change-point.")
    _, rows = results_files.merge(results_paths)
    hi.check(path)  # a damaged history fails the gates (one line, exit 2), never reads as "no history"
    series = hi.load(path)
    checked = [row.result for row in rows if row.result.ok]
    failures = [f"{r.key}: not in the history {path} (profile {r.profile}); import the results first: python -m "
                "suite history import RESULTS.json..." for r in checked if not series.get((r.profile, r.key))]
    for r in (r for r in checked if series.get((r.profile, r.key))):
        if max_drift is not None:
            failures.append(hi.drift_for(path, r, max_drift))
        if change_points:
            failures.append(hi.change_point_for(path, r))
    failures = [f for f in failures if f]
    if not checked:  # a gate that compared nothing never passes
        failures.append("no case with a successful run in " + ", ".join(map(str, results_paths))
                        + ": the history gates compared nothing")
    gates = ", ".join(g for g, on in ((f"--max-drift {max_drift:.2f}" if max_drift is not None else "", True),
                                      ("--fail-on-change-point", change_points)) if g and on)
    runs = sorted({len(series.get((r.profile, r.key), [])) for r in checked})
    each = "-".join(map(str, dict.fromkeys([runs[0], runs[-1]]))) if runs else "0"
    head = (f"history gates ({gates}) on {len(checked)} case(s), {each} run(s) each in the history {path}: "
            + (f"{len(failures)} FAILED" if failures else "passed"))
    return "\n".join([head, *failures]), bool(failures)


def history_path(given: str | None) -> Path:
    """The database a run appends to: --history, else $GLUE_BENCH_HISTORY (when set and not empty), else the
    project's results/history.sqlite."""
    env = os.environ.get("GLUE_BENCH_HISTORY", "").strip()
    return Path(given) if given else Path(env) if env else DEFAULT_HISTORY


def history_command(args) -> str:
    path = history_path(args.history)
    if args.action == "import":
        done = hi.import_results(path, args.results)
        return "\n".join(f"{f}: {n} cases, {new} new record(s) in {path}" for f, n, new in done)
    if args.action == "show":
        return hi.show(path, profile=args.profile, case=args.case)
    if args.action == "plot":
        if not args.out.strip():  # '' would write into the current folder
            raise SuiteError("history plot: --out is empty; name a folder for the PNGs, e.g. --out results/history.")
        return "\n".join(f"wrote {f}" for f in write_plots(path, args.out, profile=args.profile, case=args.case))
    if args.action == "ack":
        return "\n".join(hi.ack(path, args.case, profile=args.profile, note=args.note))
    return hi.blame(path, args.case, profile=args.profile)
