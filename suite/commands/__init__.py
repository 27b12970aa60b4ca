"""``python -m suite`` (and the ``glue-bench`` console command): one module per subcommand.

Each subcommand module declares ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` (it prints
its own output and returns the exit status). This package builds the parser from them and turns a mistake a user
can make into one ``error: ...`` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from suite.commands import baselines, calibrate, diagnose, history, perf, report, run
from suite.errors import SuiteError, printable

SUBCOMMANDS = (run, report, baselines, history, calibrate, diagnose, perf)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default where it has one and its help does not already say it (an unset option,
    default None, means "not given": its help says what happens then)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or action.default in (None, False, argparse.SUPPRESS)
                or "default" in text.lower()):
            return text
        return f"{text} (default: %(default)s)"


def build_parser(prog: str = "python -m suite") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, formatter_class=HelpFormatter,
                                     description="glue-adapter-bench: maintainer commands beside the pytest "
                                                 "benchmarks (also installed as the glue-bench command).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP, formatter_class=HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
        _describe_actions(p)
    return parser


def _describe_actions(parser: argparse.ArgumentParser) -> None:
    """A sub-action's own --help opens with the line its parent lists it with (baselines show, history plot...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                sub = action.choices[choice.dest]
                sub.description = sub.description or choice.help


def show_upstream_warnings() -> None:
    """Deprecation and future warnings of the stack (torch, transformers, adapters, datasets...) announce its next
    break: print each once per place, as pytest's warnings summary lists them, unless the user chose filters
    (python -W / PYTHONWARNINGS). Python hides DeprecationWarning outside __main__ by default."""
    if not sys.warnoptions:
        warnings.filterwarnings("default", category=DeprecationWarning)
        warnings.filterwarnings("default", category=FutureWarning)


def main(argv: list[str] | None = None, prog: str = "python -m suite") -> int:
    args = build_parser(prog).parse_args(argv)
    show_upstream_warnings()
    try:
        return args.handler(args)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader went away (| head): handled quietly in ``run``, as `cat` would
    except OSError as exc:  # a path the system refuses (name too long, permissions...): one line, never a traceback
        where = f" ({printable(exc.filename)})" if getattr(exc, "filename", None) else ""
        print(f"error: {printable(exc.strerror or exc)}{where[:120]}{'...' if len(where) > 120 else ''}",
              file=sys.stderr)
        return 2


def entry_point(argv: list[str] | None = None, prog: str = "python -m suite") -> int:
    """``main`` for a process whose output may be a pipe that closes early (``python -m suite baselines show |
    head -5``): the reader left, so stop quietly with the status of a process ended by SIGPIPE (141 in a shell),
    as ``cat`` would, instead of a BrokenPipeError traceback. SIGPIPE itself stays ignored, as Python sets it, so
    that a closed network connection (a Hub download) is still an error the suite reports, not a silent exit."""
    try:
        status = main(argv, prog)
        sys.stdout.flush()  # a write still buffered fails here, not at exit where it cannot be caught
    except BrokenPipeError:
        try:  # no further flush of the dead pipe at interpreter exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 128 + 13
    return status


def console() -> None:
    """The ``glue-bench`` console script."""
    sys.exit(entry_point(prog="glue-bench"))
