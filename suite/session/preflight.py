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
from suite.data.sources import resolve_glue_dir
from suite.engine import progress
from suite.errors import SuiteError
from suite.store.history import open_for_read


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
    if len(p.name.encode()) > 255:
        raise SuiteError(f"{what}: the file name is longer than 255 bytes. Choose a shorter name.")
    if p.is_dir():
        raise SuiteError(f"{what} {p} is a folder; name a file.")
    if p.exists() and not os.access(p, os.W_OK):
        raise SuiteError(f"{what} {p} is not writable. Choose another path or fix its permissions.")
    probe_dir(p.parent, what)


def check_out_dir(path, what: str) -> None:
    """A folder the run will write into (a report): not a file, and writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SuiteError(f"{what} {p} is a file; name a folder for the report.")
    probe_dir(p, what)


def check_outputs(options: Options, baseline_file: Path) -> None:
    """Everything the run will write, checked before the first training step (one line per problem)."""
    progress.heartbeat_interval()  # a bad $GLUE_BENCH_HEARTBEAT: one line now, not a failure in every case
    if options.results_json:
        check_file_target(options.results_json, "--results-json")
    if options.report_dir:
        check_out_dir(options.report_dir, "--report-dir")
    if options.update_baselines:
        check_file_target(baseline_file, "--update-baselines")  # the file, its lock and temp file live there
    hist = options.history_path()
    if hist is not None:
        check_file_target(hist, "--history")
        if hist.is_file() and hist.stat().st_size > 0:  # not a results history: say so now, not after training
            open_for_read(hist).close()
