"""Everything a run can get wrong, checked before the first training step: one line per problem, never a loss of
finished work later (a bad output path, a broken baseline or history file, a model or method that cannot load)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from suite import hub
from suite.config.methods import Method
from suite.config.models import check_methods, check_model, is_local
from suite.config.options import Options
from suite.config.profiles import Profile
from suite.config.speed import check_hardware
from suite.config.tasks import get_task
from suite.data.sources import load_task_data, resolve_glue_dir
from suite.engine import progress
from suite.errors import SuiteError
from suite.gate.baselines import write_target
from suite.store.history import check as check_history


def note_left_out(profile: Profile, tasks: list[str]) -> None:
    """A task the profile leaves out (not gated, with why) still runs when --tasks names it: say so once, now."""
    for task in tasks:
        if task in profile.left_out:
            progress.line(f"note: {task} is left out of the {profile.name} profile's gated tasks "
                          f"({profile.left_out[task]}); it runs because --tasks names it")


def check_glue_dir(options: Options) -> Path | None:
    glue_dir = resolve_glue_dir(options.glue_dir)
    if glue_dir is not None and not glue_dir.is_dir():
        raise SuiteError(f"--glue-dir {glue_dir} is not a folder. Point it at the folder that holds SST-2/, MNLI/, "
                         "... (as written by download_glue_data.py), or leave it unset to use the Hub.")
    return glue_dir


def check_model_and_methods(options: Options, profile: Profile, methods: list[Method], glue_dir: Path | None) -> None:
    """The model and every method's config (built once, on the meta device), the speed options; then the Hub is
    switched off when this run needs none (never touch the network)."""
    model = options.model or profile.model
    check_model(model)  # an empty folder or a stray file as --model: one line now, not a traceback later
    check_methods(model, list({m.name: m for m in methods}.values()))
    check_hardware(options.speed if options.speed is not None else profile.speed)
    needs_hub = (profile.data == "glue" and glue_dir is None) or not is_local(model)
    if not needs_hub:
        hub.go_offline()


def check_data(cases) -> None:
    """Local GLUE files (--glue-dir) read and range-checked before the first training step: a malformed row, an
    STS-B score outside 0..5 (nan, 1e308) or a dev split of one class stops the run now, not after other cases
    trained. Synthetic and Hub data are checked when each case loads them."""
    seen = set()
    for c in cases:
        ident = (c.task, c.glue_dir, c.train_size, c.eval_size)
        if c.data != "glue" or resolve_glue_dir(c.glue_dir) is None or ident in seen:
            continue
        seen.add(ident)
        load_task_data(get_task(c.task), "glue", glue_dir=c.glue_dir, train_size=c.train_size, eval_size=c.eval_size)


def probe_dir(directory: Path, what: str) -> None:
    """Fail now, not after training, if nothing can be created in ``directory`` (or its nearest existing parent)."""
    d = directory
    while not d.exists():
        if d.parent == d:
            break
        d = d.parent
    if not d.is_dir():
        raise SuiteError(f"{what}: {d} is a file, so {directory} cannot be a folder. Choose another path.")
    try:
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as exc:
        raise SuiteError(f"{what}: cannot write in {d} ({exc.strerror}). Choose a writable location.") from None


def check_file_target(path: str | os.PathLike, what: str) -> None:
    p = Path(path)
    if not str(path).strip():
        raise SuiteError(f"{what} is empty; name a file.")
    if len(p.name.encode()) > 255:
        raise SuiteError(f"{what}: the file name is longer than 255 bytes. Choose a shorter name.")
    if p.is_dir():
        raise SuiteError(f"{what} {p} is a folder; name a file.")
    try:
        p = write_target(p)  # a symlink is written through; a device, FIFO or socket is refused
    except SuiteError as exc:
        raise SuiteError(f"{what}: {exc}") from None
    if p.exists() and not os.access(p, os.W_OK):
        raise SuiteError(f"{what} {p} is not writable. Choose another path or fix its permissions.")
    probe_dir(p.parent, what)


def check_out_dir(path, what: str) -> None:
    """A folder the run will write into (a report): not a file, and writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SuiteError(f"{what} {p} is a file; name a folder for the report.")
    probe_dir(p, what)


def check_not_state(path, option: str, state) -> None:
    """An output never replaces a state file the command reads, named or through a link: ``state`` holds (path or
    None, what it is) pairs."""
    for other, what in state:
        if other is not None and os.path.realpath(path) == os.path.realpath(other):
            raise SuiteError(f"{option} {path} is {what}; writing it would destroy that file. Choose another path.")


def check_state(options: Options, baseline_file: Path) -> None:
    """The state files a run reads, and the gates that need them, before any training: --baselines-dir, the
    history (its integrity check) and the gates that would compare nothing (never a silent pass)."""
    d = Path(options.baselines_dir)
    if d.exists() and not d.is_dir():
        raise SuiteError(f"--baselines-dir {d} is a file; name the folder that holds <profile>.json baselines.")
    if not d.exists() and not options.update_baselines:
        raise SuiteError(f"--baselines-dir {d} does not exist; name the folder that holds <profile>.json baselines "
                         "(or create it with --update-baselines).")
    gates = [f for f, on in (("--max-drift", options.max_drift is not None),
                             ("--fail-on-change-point", options.fail_on_change_point)) if on]
    hist = options.history_path()
    if gates and hist is None:
        raise SuiteError(f"{' and '.join(gates)} read the results history, but it is switched off (--no-history, or "
                         "GLUE_BENCH_HISTORY set empty): the gate would compare nothing. Drop one of them.")
    if hist is not None:
        check_history(hist)


def check_outputs(options: Options, baseline_file: Path) -> None:
    """Everything the run will write, checked before the first training step (one line per problem)."""
    progress.heartbeat_interval()  # a bad $GLUE_BENCH_HEARTBEAT: one line now, not a failure in every case
    if options.results_json:
        check_file_target(options.results_json, "--results-json")
        hist = options.history_path()
        check_not_state(options.results_json, "--results-json", ((baseline_file, "the baseline file of this run"),
                                                                 (hist, "the results history of this run")))
    if options.report_dir:
        check_out_dir(options.report_dir, "--report-dir")
    if options.update_baselines:
        check_file_target(baseline_file, "--update-baselines")  # the file, its lock and temp file live there
    hist = options.history_path()
    if hist is not None:
        check_file_target(hist, "--history")  # its integrity is checked by check_state
