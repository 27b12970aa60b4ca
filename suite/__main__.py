"""python -m suite: maintainer commands.

    python -m suite baselines show [--profile P] [--baselines-dir DIR]
    python -m suite baselines diff RESULTS.json [--baselines-dir DIR]
    python -m suite baselines update RESULTS.json [RESULTS.json ...] [--baselines-dir DIR]   (shards' results)
    python -m suite report RESULTS.json [RESULTS.json ...] --out DIR
    python -m suite diagnose --task T --method M [--profile P] [--seeds 0,1] [--factors capacity,lr] [--alpha 0.05] [--out DIR]
    python -m suite perf [--glue-dir DIR] [--train-size 2000] [--epochs 1]
    python -m suite history import RESULTS.json [RESULTS.json ...] [--history PATH]
    python -m suite history show [--case sst2/seq_bn] [--profile P] [--history PATH]
    python -m suite history plot --out DIR [--case C] [--profile P] [--history PATH]
    python -m suite history blame CASE [--profile P] [--history PATH]
    python -m suite calibrate [--profile P] [--tasks T] [--methods M] [--seeds 5] [--detect 0.5] [--out FILE.json]
        [--write-baselines] [--simulate]
    python -m suite run [--profile P] [--tasks T] [--methods M] [--results-json PATH]   (also under
        accelerate launch / torchrun: one large case across several GPUs with DDP)
"""

from __future__ import annotations

import argparse
import sys

from suite.config import options
from suite.errors import SuiteError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("baselines", help="inspect baseline files")
    bsub = b.add_subparsers(dest="action", required=True)
    show = bsub.add_parser("show", help="list the entries of one profile's baseline file")
    show.add_argument("--profile", default="smoke")
    show.add_argument("--baselines-dir", default=None)
    diff = bsub.add_parser("diff", help="what an update from a results file would change, entry by entry")
    diff.add_argument("results", help="a file written by --results-json")
    diff.add_argument("--baselines-dir", default=None)
    upd = bsub.add_parser("update", help="record entries from results files (e.g. the shards of a GPU run), with "
                          "the same checks as --update-baselines: failed and degenerate runs are refused")
    upd.add_argument("results", nargs="+", help="files written by --results-json")
    upd.add_argument("--baselines-dir", default=None)
    rep = sub.add_parser("report", help="Markdown + HTML report and plots from one or more results files (merged)")
    rep.add_argument("results", nargs="+", help="files written by --results-json (shards of one run are merged)")
    rep.add_argument("--out", default="results/report", help="folder for report.md, report.html and the PNG plots")
    rep.add_argument("--max-gap", default=None, help="fail (exit 1) an adapter trailing full fine-tuning by more "
                     "than POINTS in the merged results")
    rep.add_argument("--strict-baselines", action="store_true", help="exit 1 when a case had no usable baseline")
    dg = sub.add_parser("diagnose", help="why does an adapter trail full fine-tuning? pitfall checks + sweeps")
    dg.add_argument("--task", required=True)
    dg.add_argument("--method", required=True, help="an adapter method or config string, e.g. seq_bn[leave_out=[2,3,4,5]]")
    options.add_to_argparse(dg, ("profile", "seeds", "glue_dir", "model", "lr"))
    dg.add_argument("--factors", default=",".join(_factors()), help="comma list of: " + ", ".join(_factors()))
    dg.add_argument("--out", default=None, help="folder for diagnosis.md/.json/.png (default results/diagnose/...)")
    dg.add_argument("--cache-dir", default=None, help="reuse runs by config hash (default results/cache)")
    dg.add_argument("--no-checks", action="store_true", help="skip the pitfall checks")
    dg.add_argument("--alpha", default=None, help="family-wise error rate of the verdicts (default 0.05)")
    pf = sub.add_parser("perf", help="engine vs HF Trainer/AdapterTrainer throughput, side by side (SST-2)")
    pf.add_argument("--glue-dir", default=None, help="real SST-2 from here; default: synthetic SST-2-shaped data")
    pf.add_argument("--model", default="minilm")
    pf.add_argument("--train-size", default="2000")
    pf.add_argument("--max-length", default="64")
    pf.add_argument("--batch-size", default="32")
    pf.add_argument("--epochs", default="1")
    pf.add_argument("--methods", default="full,seq_bn", help="comma list (default full,seq_bn)")
    pf.add_argument("--bf16", action="store_true",
                    help="both sides under bf16 autocast (CPU with native bf16, or CUDA); default fp32")
    pf.add_argument("--ablate", action="store_true",
                    help="engine only: one row per speed option (README 'Speed') with samples/s, MFU and accuracy")
    rn = sub.add_parser("run", help="run cases without pytest (works under accelerate launch / torchrun for DDP)")
    options.add_to_argparse(rn)  # every option of a pytest run, declared once in suite/options.py
    _history_parser(sub)
    from suite.gate.calibration import add_parser as _calibrate_parser

    _calibrate_parser(sub)
    args = parser.parse_args(argv)
    try:
        from suite.commands import cli

        if args.command == "baselines" and args.action == "show":
            print(cli.baselines_show(args.profile, args.baselines_dir))
        elif args.command == "baselines" and args.action == "diff":
            text, _ = cli.baselines_diff(args.results, args.baselines_dir)
            print(text)
        elif args.command == "baselines" and args.action == "update":
            text, refused = cli.baselines_update(args.results, args.baselines_dir)
            print(text)
            return 1 if refused else 0
        elif args.command == "report":
            paths = args.results[1:] if args.results[0] == "merge" else args.results  # "report merge a.json b.json"
            from suite.session import parse_max_gap

            text, failed = cli.make_report(paths, args.out, strict=args.strict_baselines,
                                           max_gap=parse_max_gap(args.max_gap) if args.max_gap is not None else None)
            print(text)
            return 1 if failed else 0
        elif args.command == "diagnose":
            print(cli.run_diagnose(args))
        elif args.command == "run":
            text, status = cli.run_cases(args)
            if text:
                print(text)
            return status
        elif args.command == "history":
            print(cli.history_command(args))
        elif args.command == "calibrate":
            from suite.gate import calibration as calibrate

            text, status = calibrate.command(args)
            print(text)
            return status
        elif args.command == "perf":
            from suite.tools import perf

            sizes = {k: perf.parse_count(f"--{k.replace('_', '-')}", getattr(args, k), least)
                     for k, least in (("train_size", 1), ("max_length", 8), ("batch_size", 1), ("epochs", 1))}
            kw = dict(model=args.model, glue_dir=args.glue_dir, **sizes, methods=perf.parse_methods(args.methods))
            if args.ablate and args.bf16:
                raise SuiteError("--ablate already measures bf16 as one of its rows (cpu-bf16 on CPU, precision bf16 "
                                 "on CUDA) against fp32 defaults; drop --bf16, or drop --ablate to compare with Trainer "
                                 "in bf16.")
            if args.ablate:
                print(perf.render_ablation(perf.ablate(**kw, log=lambda line: print(line, file=sys.stderr))))
            else:
                print(f"precision: {'bf16 autocast on both sides' if args.bf16 else 'fp32 on both sides'}\n")
                print(perf.render(perf.compare(**kw, bf16=args.bf16)))
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader went away (| head): handled quietly below, as `cat` would
    except OSError as exc:  # a path the system refuses (name too long, permissions...): one line, never a traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where[:120]}{'...' if len(where) > 120 else ''}", file=sys.stderr)
        return 2
    return 0


def _history_parser(sub) -> None:
    h = sub.add_parser("history", help="results history (SQLite): import, show, plot, blame; drift and change points")
    hsub = h.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--history", default=None, help="the history database (default results/history.sqlite)")
    imp = hsub.add_parser("import", parents=[common], help="add results files (idempotent: re-importing adds nothing)")
    imp.add_argument("results", nargs="+", help="files written by --results-json")
    for name, text in (("show", "each case's series, with change points, releases and baseline updates marked"),
                       ("plot", "one trend PNG per case")):
        a = hsub.add_parser(name, parents=[common], help=text)
        a.add_argument("--case", default=None, help="task/method, e.g. sst2/seq_bn")
        a.add_argument("--profile", default=None)
        if name == "plot":
            a.add_argument("--out", required=True, help="folder for the PNGs")
    bl = hsub.add_parser("blame", parents=[common], help="the first run after a case's largest change point, and what changed")
    bl.add_argument("case", help="task/method, e.g. sst2/seq_bn")
    bl.add_argument("--profile", default=None)


def _factors():
    from suite.tools.diagnose.grid import FACTORS

    return FACTORS


def run(argv: list[str] | None = None) -> int:
    """``main`` for a process whose output may be a pipe that closes early (``python -m suite baselines show |
    head -5``): the reader left, so stop quietly with the status of a process ended by SIGPIPE (141 in a shell),
    as ``cat`` would, instead of a BrokenPipeError traceback. SIGPIPE itself stays ignored, as Python sets it, so
    that a closed network connection (a Hub download) is still an error the suite reports, not a silent exit."""
    import os

    try:
        status = main(argv)
        sys.stdout.flush()  # a write still buffered fails here, not at exit where it cannot be caught
    except BrokenPipeError:
        try:  # no further flush of the dead pipe at interpreter exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 128 + 13
    return status


if __name__ == "__main__":
    sys.exit(run())
