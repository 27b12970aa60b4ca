"""The end of a session: the results file, the report, the baselines (only when asked, never after an interrupt)
and the history, each step independent of the others (one failing never cancels another). ``session`` is the
suite.session.bench.BenchSession whose outputs these are."""

from __future__ import annotations

from collections.abc import Callable

from suite import signals
from suite.errors import SuiteError, printable
from suite.gate import baselines as bl
from suite.gate import verdicts as vd
from suite.report.files import write_report
from suite.store import history, results_files


def finish(session, *, interrupted: bool = False) -> tuple[list[str], bool]:
    """Write every output of the session. Ctrl-C or SIGTERM arriving meanwhile is held until the files are written
    (a second Ctrl-C must not lose the finished cases; every file is written atomically anyway). Returns
    (messages, whether a step failed)."""
    held, caught = signals.deferred()
    try:
        lines, broken = _write_outputs(session, interrupted)
    finally:
        signals.restore(held)
    if caught:
        lines.append(f"{caught[0]} received while the files were written: they were finished first")
    return lines, broken


class _Steps:
    """Runs each writing step on its own: a SuiteError or OSError becomes one ERROR line, and the next step runs."""

    def __init__(self):
        self.lines: list[str] = []
        self.broken = False

    def run(self, what: str, fn: Callable[[], list[str] | None], target=None) -> None:
        try:
            self.lines.extend(fn() or [])
        except SuiteError as exc:
            self.broken = True
            self.lines.append(f"ERROR ({what}): {exc}")
        except OSError as exc:  # name the file: "No space left on device" alone does not say where
            self.broken = True
            where = exc.filename or target
            self.lines.append(f"ERROR ({what}): {printable(exc.strerror or exc)}"
                              + (f" ({printable(where)})" if where else ""))


def _write_outputs(session, interrupted: bool) -> tuple[list[str], bool]:
    options, rows, steps = session.options, session.table_rows(), _Steps()
    left_alone = bool(options.results_json) and not session.results and _exists(options.results_json)
    if options.results_json:
        steps.run("results file", lambda: _write_results(session, rows), options.results_json)
    written = bool(options.results_json) and not steps.broken
    if options.report_dir and rows:
        steps.run("report", lambda: _write_report(session, rows), options.report_dir)
    updated: list[str] = []
    if options.update_baselines and session.results and not interrupted:  # an interrupt says so in its line
        steps.run("baselines", lambda: _update_baselines(session, rows, updated), session.baseline_file)
    hist = options.history_path()
    if hist is not None and session.results and not interrupted:
        steps.run("history", lambda: _append_history(session, hist, updated), hist)
    if interrupted:
        steps.lines.insert(0, interrupt_line(session, written, left_alone))
    return steps.lines, steps.broken


def _write_results(session, rows: list[vd.Row]) -> list[str]:
    """Under a lock; a file another run wrote since this session started is merged, not lost. A run that ran no
    case (--collect-only, everything deselected, stopped before its first case) never replaces an existing file."""
    if not session.results and _exists(session.options.results_json):
        return [f"no case ran: {session.options.results_json} left as it was (an earlier run's cases)"]
    note = results_files.write_results(session.options.results_json, session.profile.name, rows,
                                       shard=session.options.shard,
                                       entries={r.key: session.entry(r) for r in session.results},
                                       since=getattr(session, "results_state", results_files.UNTRACKED))
    return [f"results written to {session.options.results_json}", *([note] if note else [])]


def _exists(path) -> bool:
    return results_files.file_state(path) is not None


def _write_report(session, rows: list[vd.Row]) -> list[str]:
    warnings: list[str] = []
    files = write_report(rows, session.options.report_dir, title=f"glue-adapter-bench: profile {session.profile.name}",
                         warnings=warnings, gates=vd.gap_gate_lines(session.results, session.options.max_gap,
                                                                    session.gap_failures()))
    return [f"report written to {files[0].parent} ({', '.join(f.name for f in files)})", *warnings]


def _append_history(session, path, updated: list[str]) -> list[str]:
    n = history.append(path, session.results, baseline_updated=updated)
    return [f"history: {n} record{'s' if n != 1 else ''} appended to {path}"]


def _update_baselines(session, rows: list[vd.Row], done: list[str]) -> list[str]:
    refuse = {row.result.key: row.verdict.message for row in rows if row.verdict.status != "updated"}
    path = session.baseline_file
    updated, refused = bl.update(path, session.profile.name, session.results, refuse=refuse)
    done.extend(r.key for r in session.results if bl.entry_key(r) in updated)
    lines = []
    if updated:
        lines.append(f"{path}: updated {len(updated)} entr{'y' if len(updated) == 1 else 'ies'} "
                     f"({', '.join(updated)})")
    return lines + [f"{path}: NOT updated for {r}" for r in refused]


def interrupt_line(session, written: bool, left_alone: bool = False) -> str:
    """One line for a run stopped by Ctrl-C or SIGTERM: what was kept, what was left alone."""
    head = {"SIGTERM": "terminated (SIGTERM)", "SIGINT": "interrupted (SIGINT)",
            "error": "stopped by the error below"}.get(session.interrupted_by or "", "interrupted")
    n, results_json = len(session.results), session.options.results_json
    kept = f"{n} finished case{'s' if n != 1 else ''} "
    if written and n == 0 and left_alone:
        kept += f"(none to write: {results_json} left as it was)"
    elif written:
        kept += f"written to {results_json}"
    elif results_json:
        kept += f"NOT written to {results_json} (see the error below)"
    else:
        kept += "not saved (no --results-json)"
    parts = [kept]
    if session.options.update_baselines:
        parts.append(f"{session.baseline_file} left untouched")
    if session.options.history_path() is not None:
        parts.append("history not appended")
    return f"{head}: " + "; ".join(parts)
