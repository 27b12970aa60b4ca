"""``python -m suite diagnose --task T --method M``: why does an adapter trail full fine-tuning? Pitfall checks,
then sweeps of the factors that could close the gap, judged on paired seeds with Holm's correction."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from suite.commands.common import session_options
from suite.config import options
from suite.config.methods import split_list
from suite.config.paths import DEFAULT_DIAGNOSE, DEFAULT_RUN_CACHE
from suite.errors import SuiteError
from suite.gate.statistics import ALPHA
from suite.session.bench import BenchSession
from suite.session.preflight import check_out_dir
from suite.tools.diagnose.grid import FACTORS
from suite.tools.diagnose.output import plain_text, to_markdown, write
from suite.tools.diagnose.run_cache import DiskCache
from suite.tools.diagnose.runner import diagnose

NAME = "diagnose"
HELP = "why does an adapter trail full fine-tuning? pitfall checks + sweeps"


def add_arguments(parser) -> None:
    parser.add_argument("--task", required=True, help="the GLUE task, e.g. sst2")
    parser.add_argument("--method", required=True,
                        help="an adapter method or config string, e.g. seq_bn[leave_out=[2,3,4,5]]")
    options.add_to_argparse(parser, ("profile", "seeds", "glue_dir", "model", "lr"))
    parser.add_argument("--factors", default=",".join(FACTORS), help="comma list of: " + ", ".join(FACTORS))
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="folder for diagnosis.md/.json/.png (default: results/diagnose/<task>_<method>)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="reuse runs by config hash (default: results/cache)")
    parser.add_argument("--no-checks", action="store_true", help="skip the pitfall checks")
    parser.add_argument("--alpha", default=None, help=f"family-wise error rate of the verdicts (default {ALPHA})")


def run(args) -> int:
    text = run_diagnose(args)
    print(plain_text(text) if sys.stdout.isatty() else text)  # Markdown when piped (a step summary, an issue)
    return 0


def run_diagnose(args) -> str:
    session = BenchSession(session_options(args, methods=args.method, tasks=args.task))
    session.check_data()
    cases = session.cases()
    if len(cases) != 1:
        raise SuiteError(f"diagnose explains one case at a time; --task {args.task} --method {args.method} names "
                         f"{len(cases)}. Name one task and one method.")
    [case] = cases
    if case.adapter_config is None:
        raise SuiteError(f"diagnose explains an adapter's gap; '{case.method}' has no adapter. Name an adapter "
                         "method or config string, e.g. --method seq_bn.")
    factors = split_list(args.factors)
    for f in factors:
        if f not in FACTORS:
            raise SuiteError(f"Unknown factor '{f}'. Valid factors: {', '.join(FACTORS)}.")
    alpha = ALPHA if args.alpha is None else parse_alpha(args.alpha)
    out = (Path(args.out) if args.out
           else DEFAULT_DIAGNOSE / re.sub(r"\W+", "_", f"{case.task}-{case.method}").strip("_"))
    for given, path, flag in ((args.out, out, "--out"), (args.cache_dir, args.cache_dir or DEFAULT_RUN_CACHE,
                                                          "--cache-dir")):
        if given is not None and not str(given).strip():
            raise SuiteError(f"{flag} is empty; name a folder.")
        check_out_dir(path, flag)  # before any training: a bad folder must not cost the sweep
    runner = DiskCache(args.cache_dir or DEFAULT_RUN_CACHE, session.run)
    d = diagnose(case, session.reference_case(case), session.profile, runner, factors=factors,
                    checks=not args.no_checks, alpha=alpha)
    files = write(d, out)
    return "\n".join([to_markdown(d).split("## Every variant")[0].rstrip(),
                      f"(reused {runner.hits} earlier runs from the cache)", *[f"wrote {f}" for f in files]])


def parse_alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise SuiteError(f"--alpha must be a number between 0 and 1 (e.g. 0.05), got '{text}'.")
    return value
