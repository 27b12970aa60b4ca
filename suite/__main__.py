"""python -m suite: maintainer commands.

    python -m suite baselines show [--profile P] [--baselines-dir DIR]
    python -m suite baselines diff RESULTS.json [--baselines-dir DIR]
"""

from __future__ import annotations

import argparse
import sys

from .errors import SuiteError


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
    args = parser.parse_args(argv)
    try:
        from . import cli

        if args.command == "baselines" and args.action == "show":
            print(cli.baselines_show(args.profile, args.baselines_dir))
        elif args.command == "baselines" and args.action == "diff":
            text, _ = cli.baselines_diff(args.results, args.baselines_dir)
            print(text)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
