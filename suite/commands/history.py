"""``python -m suite history import|show|plot|blame|ack``: the results history (SQLite), its drift and change points,
and accepting a step (``ack``) so that the history gates stop failing it."""

from __future__ import annotations

import os
from pathlib import Path

from suite.config.paths import DEFAULT_HISTORY
from suite.report.history_plot import write_plots
from suite.store import history as hi

NAME = "history"
HELP = "results history (SQLite): import, show, plot, blame, ack; drift and change points"
CASE_HELP = "task/method, e.g. sst2/seq_bn"


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
    for p in (imp, show, plot, blame, ack):
        p.add_argument("--history", default=None, metavar="PATH",
                       help="the history database (default: $GLUE_BENCH_HISTORY, else results/history.sqlite in "
                            "the project)")


def run(args) -> int:
    print(history_command(args))
    return 0


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
        return "\n".join(f"wrote {f}" for f in write_plots(path, args.out, profile=args.profile, case=args.case))
    if args.action == "ack":
        return "\n".join(hi.ack(path, args.case, profile=args.profile, note=args.note))
    return hi.blame(path, args.case, profile=args.profile)
