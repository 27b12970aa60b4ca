"""What the maintainer commands print: pure functions over baseline and results files."""

from __future__ import annotations

from pathlib import Path

from suite.gate import baselines as bl
from suite.report import table as report
from suite.gate import verdicts as vd
from suite.config.profiles import get_profile


def _dir(baselines_dir) -> Path:
    from suite.errors import SuiteError
    from suite.session import DEFAULT_BASELINES

    d = Path(baselines_dir) if baselines_dir else DEFAULT_BASELINES
    if d.exists() and not d.is_dir():
        raise SuiteError(f"--baselines-dir {d} is a file; name the folder that holds <profile>.json baselines.")
    return d


def baselines_show(profile: str, baselines_dir=None) -> str:
    prof = get_profile(profile)
    directory = _dir(baselines_dir)
    if baselines_dir and not directory.exists():
        from suite.errors import SuiteError

        raise SuiteError(f"--baselines-dir {directory} does not exist; name the folder that holds <profile>.json "
                         "baselines (default: baselines/ in the project).")
    path = bl.baseline_path(directory, prof.name)
    entries = bl.load(path)["entries"]
    if not entries:
        return f"{path}: no entries (record them with pytest benchmarks --profile {prof.name} --update-baselines)"
    lines = [f"{path}: {len(entries)} entries (profile {prof.name}, default tolerance {prof.tolerance:.2f} points)",
             "| case | metric | mean | sd | n | floor | margin | tolerance | config | recorded | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(entries):
        e = entries[key]
        p = e.get("provenance") or {}
        tol = e.get("tolerance", prof.tolerance_for(key.split("/", 1)[0]))
        floor = e.get("floor")
        margin = "?" if floor is None else f"{e['mean'] - floor:+.2f}" + (" DEAD" if e["mean"] <= floor + tol else "")
        lines.append(f"| {key} | {e.get('metric', '?')} | {e['mean']:.2f} | {e.get('sd', 0):.2f} | {e.get('n', '?')} "
                     f"| {'?' if floor is None else f'{floor:.2f}'} | {margin} | {tol:.2f} | {e.get('config_hash', '?')} "
                     f"| {(p.get('date') or '?')[:10]} | {(p.get('git_commit') or '?')[:10]} |")
    from suite.gate.calibration import noise_lines

    return "\n".join(lines + noise_lines(entries, prof))


def baselines_diff(results_path, baselines_dir=None) -> tuple[str, dict[str, str]]:
    """A review-friendly account of what `--update-baselines` from these results would change."""
    profile, file_rows = report.load_results(results_path)
    results = [row.result for row in file_rows]
    path = bl.baseline_path(_dir(baselines_dir), profile)
    entries = bl.load(path)["entries"]
    lines = [f"update of {path} from {results_path}:"]
    kinds = {}
    prof = get_profile(profile) if profile in _profiles() else None
    for row in file_rows:
        r = row.result
        key = bl.entry_key(r)
        old = entries.get(key)
        recorded = row.verdict.tolerance if isinstance(row.verdict.tolerance, (int, float)) else 0.0
        policy = vd.Policy(tolerance=prof.tolerance_for(r.task) if prof else recorded, updating=True)
        verdict = vd.judge(r, old, policy)
        if verdict.status != "updated":
            kinds[key] = "refused"
            lines.append(f"- {key}: would NOT be written ({verdict.message})")
            continue
        new = bl.entry_from_result(r)
        if old is None:
            kinds[key] = "new"
            lines.append(f"- {key}: new entry, {new['metric']} = {new['mean']:.2f} (n={new['n']})")
            continue
        changes = []
        if old.get("mean") != new["mean"]:
            changes.append(f"{new['metric']} {old.get('mean'):.2f} -> {new['mean']:.2f} ({new['mean'] - old.get('mean', 0):+.2f})")
        if old.get("sd") != new["sd"] or old.get("n") != new["n"]:
            changes.append(f"sd/n {old.get('sd')}/{old.get('n')} -> {new['sd']}/{new['n']}")
        changes += vd.stale_reasons(r, old) + vd.release_changes(r, old)
        kinds[key] = "changed" if changes else "unchanged"
        lines.append(f"- {key}: " + ("; ".join(changes) if changes else "unchanged (provenance and throughput only)"))
    untouched = sorted(set(entries) - {bl.entry_key(r) for r in results})
    if untouched:
        lines.append(f"- untouched: {', '.join(untouched)}")
    return "\n".join(lines), kinds


def baselines_update(results_paths, baselines_dir=None) -> tuple[str, int]:
    """Record baseline entries from results files, merged (the shards of a CI matrix, or a measured run reviewed
    with ``baselines diff``), with the checks --update-baselines applies to a live run: a case is refused when its
    recorded verdict failed (failed, degenerate, regression) or when judged now it would not be recorded (crash,
    non-finite metric, no better than its floor). Returns (text, number refused)."""
    profile, rows = report.merge(results_paths)
    prof = get_profile(profile)
    path = bl.baseline_path(_dir(baselines_dir), prof.name)
    if not rows:
        return "no cases in these results files: nothing to record", 1
    refuse = {}
    for row in rows:
        r = row.result
        v = vd.judge(r, None, vd.Policy(tolerance=prof.tolerance_for(r.task), updating=True))
        if row.verdict.status in vd.FAILING:
            refuse[r.key] = row.verdict.message
        elif v.status != "updated":
            refuse[r.key] = v.message
    updated, refused = bl.update(path, prof.name, [row.result for row in rows], refuse=refuse)
    lines = [f"{path}: updated {len(updated)} entr{'y' if len(updated) == 1 else 'ies'}"
             + (f" ({', '.join(updated)})" if updated else "")]
    lines += [f"{path}: NOT updated for {r}" for r in refused]
    return "\n".join(lines), len(refused)


def make_report(results_paths, out_dir, *, max_gap: float | None = None, strict: bool = False) -> tuple[str, bool]:
    """Merge results files (shards), write the report, and judge what needs all results together: the verdicts
    as recorded, and --max-gap over the merged set. Returns (text, whether the merged run fails)."""
    from suite.report.files import write_report
    from suite.session import render_summary

    profile, rows = report.merge(results_paths)
    if not rows:
        return "no cases in these results files: nothing was compared", True
    _check_out_dir(out_dir)
    files = write_report(rows, out_dir, title=f"glue-adapter-bench: profile {profile}")
    gaps = vd.gap_failures([row.result for row in rows], max_gap)
    failed = vd.failing(rows, strict=strict, extra_failures=gaps)
    text = (render_summary(rows, profile, gap_failures=gaps, strict=strict, width=terminal_width()) if rows
            else "no cases")
    return "\n".join([text, *[f"wrote {f}" for f in files]]), failed


def _check_out_dir(out_dir) -> None:
    from suite.errors import SuiteError

    from suite.session import _probe_dir

    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise SuiteError(f"--out {p} is a file; name a folder for the report.")
    _probe_dir(p, "--out")  # a file on the way, or a folder that cannot be written: one line, not a traceback


def _profiles():
    from suite.config.profiles import PROFILES

    return PROFILES


def run_diagnose(args) -> str:
    import re

    from suite.errors import SuiteError
    from suite.gate.statistics import ALPHA
    from suite.tools.diagnose.grid import FACTORS
    from suite.tools.diagnose.output import to_markdown, write
    from suite.tools.diagnose.run_cache import DiskCache
    from suite.tools.diagnose.runner import diagnose
    from suite.config.methods import split_list
    from suite.session import ROOT, BenchSession

    session = BenchSession(_options(args, methods=args.method, tasks=args.task))
    [case] = session.cases()
    if case.adapter_config is None:
        raise SuiteError(f"diagnose explains an adapter's gap; '{case.method}' has no adapter. Name an adapter "
                         "method or config string, e.g. --method seq_bn.")
    full_case = session.reference_case(case)
    factors = split_list(args.factors)
    for f in factors:
        if f not in FACTORS:
            raise SuiteError(f"Unknown factor '{f}'. Valid factors: {', '.join(FACTORS)}.")
    runner = DiskCache(args.cache_dir or ROOT / "results" / "cache", session.run)
    alpha = ALPHA if getattr(args, "alpha", None) is None else _alpha(args.alpha)
    d = diagnose(case, full_case, session.profile, runner, factors=factors, checks=not args.no_checks, alpha=alpha)
    out = Path(args.out) if args.out else ROOT / "results" / "diagnose" / re.sub(r"\W+", "_", f"{case.task}-{case.method}").strip("_")
    files = write(d, out)
    return "\n".join([to_markdown(d).split("## Every variant")[0].rstrip(),
                      f"(reused {runner.hits} earlier runs from the cache)", *[f"wrote {f}" for f in files]])


def _alpha(text: str) -> float:
    from suite.errors import SuiteError

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise SuiteError(f"--alpha must be a number between 0 and 1 (e.g. 0.05), got '{text}'.")
    return value


def run_cases(args) -> tuple[str, int]:
    """Cases of a profile outside pytest; under DDP every rank trains, the main process reports and writes.
    Returns (text, exit status): 1 when any case fails its gate (the same verdicts as pytest), 0 otherwise.

    Ctrl-C and SIGTERM stop the run as an interrupt (suite.signals): the cases finished so far are written to
    --results-json, baselines and history are left alone, one line says so, and the status is 128 + the signal's
    number (130, 143). A mistake found in a later case (a SuiteError) keeps the finished cases the same way and is
    then reported as usual."""
    from suite import signals
    from suite.errors import SuiteError
    from suite.session import BenchSession

    session = BenchSession(_options(args))

    def noted(name: str) -> None:
        session.interrupted, session.interrupted_by = True, name

    previous = signals.install(noted)
    error = None
    try:
        for case in session.cases():
            session.add(session.run(case))
    except KeyboardInterrupt:
        session.interrupted = True
        session.interrupted_by = session.interrupted_by or "SIGINT"
    except SuiteError as exc:
        error = exc
        session.interrupted_by = "error"
    finally:
        signals.restore(previous)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        if error is not None:
            raise error
        return "", signals.exit_status(session.interrupted_by) if session.interrupted else 0
    lines, broken = session.finish(interrupted=session.interrupted or error is not None)  # holds signals meanwhile
    text = "\n".join([t for t in (session.summary(width=terminal_width()), *lines) if t])
    if error is not None:
        if session.results:
            print(text)
        raise error
    if session.interrupted:
        return text, signals.exit_status(session.interrupted_by)
    return text, 1 if (broken or session.failed()) else 0


def terminal_width() -> int | None:
    """The summary table fits the terminal it is printed on; piped into a file or a CI log it stays whole."""
    import os
    import shutil
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return shutil.get_terminal_size().columns
    return None


def history_command(args) -> str:
    """python -m suite history import|show|plot|blame."""
    from suite.store import history as hi

    path = Path(args.history) if args.history else hi.DEFAULT_HISTORY
    if args.action == "import":
        done = hi.import_results(path, args.results)
        return "\n".join(f"{f}: {n} cases, {new} new record(s) in {path}" for f, n, new in done)
    if args.action == "show":
        return hi.show(path, profile=args.profile, case=args.case)
    if args.action == "plot":
        from suite.report.history_plot import write_plots

        return "\n".join(f"wrote {f}" for f in write_plots(path, args.out, profile=args.profile, case=args.case))
    return hi.blame(path, args.case, profile=args.profile)


def _options(args, **fields):
    """Session options from the declared command-line options (suite/options.py) plus ``fields``."""
    from suite.config.options import options_from_args

    return options_from_args(args, **fields)
