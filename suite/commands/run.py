"""``python -m suite run``: the cases of a profile without pytest (also under ``accelerate launch`` / torchrun, one
large case across several GPUs with DDP: every rank trains, the main process reports and writes)."""

from __future__ import annotations

from suite import signals
from suite.commands.common import print_text, session_options, terminal_width
from suite.config import options
from suite.errors import SuiteError
from suite.session.bench import BenchSession

NAME = "run"
HELP = "run cases without pytest (works under accelerate launch / torchrun for DDP)"


def add_arguments(parser) -> None:
    options.add_to_argparse(parser)  # every option of a pytest run, declared once in suite/config/options.py


def run(args) -> int:
    text, status = run_cases(args)
    print_text(text)
    return status


def run_cases(args) -> tuple[str, int]:
    """Returns (text, exit status): 1 when the run fails (``suite.gate.outcome``, as under pytest), 0 otherwise.

    Ctrl-C and SIGTERM stop the run as an interrupt (suite.signals): the cases finished so far are written to
    --results-json, baselines and history are left alone, one line says so, and the status is 128 + the signal's
    number (130, 143). A mistake found in a later case (a SuiteError) keeps the finished cases the same way and is
    then reported as usual."""
    session = BenchSession(session_options(args))
    session.check_data()
    error = _run_all(session)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        if error is not None:
            raise error
        return "", signals.exit_status(session.interrupted_by) if session.interrupted else 0
    lines, broken = session.finish(interrupted=session.interrupted or error is not None)  # holds signals meanwhile
    text = "\n".join([t for t in (session.summary(width=terminal_width()), *lines) if t])
    if error is not None:
        print_text(text if session.results else "")
        raise error
    if session.interrupted:
        return text, signals.exit_status(session.interrupted_by)
    return text, 1 if session.outcome(broken_files=broken).failed else 0


def _run_all(session: BenchSession) -> SuiteError | None:
    """Every case in turn; an interrupt or a mistake stops the loop with the finished cases kept."""
    def noted(name: str) -> None:
        session.interrupted, session.interrupted_by = True, name

    previous = signals.install(noted)
    try:
        for case in session.cases():
            session.add(session.run(case))
    except KeyboardInterrupt:
        session.interrupted = True
        session.interrupted_by = session.interrupted_by or "SIGINT"
    except SuiteError as exc:
        session.interrupted_by = "error"
        return exc
    finally:
        signals.restore(previous)
    return None
