"""What the maintainer commands print: pure functions over baseline and results files."""

from __future__ import annotations

from pathlib import Path

from . import baselines as bl
from . import report
from .profiles import get_profile


def _dir(baselines_dir) -> Path:
    from .session import DEFAULT_BASELINES

    return Path(baselines_dir) if baselines_dir else DEFAULT_BASELINES


def baselines_show(profile: str, baselines_dir=None) -> str:
    prof = get_profile(profile)
    path = bl.baseline_path(_dir(baselines_dir), prof.name)
    entries = bl.load(path)["entries"]
    if not entries:
        return f"{path}: no entries (record them with pytest benchmarks --profile {prof.name} --update-baselines)"
    lines = [f"{path}: {len(entries)} entries (profile {prof.name}, default tolerance {prof.tolerance:.2f} points)",
             "| case | metric | mean | sd | n | tolerance | config | recorded | commit | hardware |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(entries):
        e = entries[key]
        p = e.get("provenance") or {}
        tol = e.get("tolerance", prof.tolerance_for(key.split("/", 1)[0]))
        lines.append(f"| {key} | {e.get('metric', '?')} | {e['mean']:.2f} | {e.get('sd', 0):.2f} | {e.get('n', '?')} "
                     f"| {tol:.2f} | {e.get('config_hash', '?')} | {(p.get('date') or '?')[:10]} "
                     f"| {(p.get('git_commit') or '?')[:10]} | {p.get('hardware', '?')} |")
    return "\n".join(lines)


def baselines_diff(results_path, baselines_dir=None) -> tuple[str, dict[str, str]]:
    """A review-friendly account of what `--update-baselines` from these results would change."""
    profile, file_rows = report.load_results(results_path)
    results = [row.result for row in file_rows]
    path = bl.baseline_path(_dir(baselines_dir), profile)
    entries = bl.load(path)["entries"]
    lines = [f"update of {path} from {results_path}:"]
    kinds = {}
    for r in results:
        old = entries.get(r.key)
        if not r.ok:
            kinds[r.key] = "refused"
            lines.append(f"- {r.key}: would NOT be written (failed run: {r.error})")
            continue
        new = bl.entry_from_result(r)
        if old is None:
            kinds[r.key] = "new"
            lines.append(f"- {r.key}: new entry, {new['metric']} = {new['mean']:.2f} (n={new['n']})")
            continue
        changes = []
        if old.get("mean") != new["mean"]:
            changes.append(f"{new['metric']} {old.get('mean'):.2f} -> {new['mean']:.2f} ({new['mean'] - old.get('mean', 0):+.2f})")
        if old.get("sd") != new["sd"] or old.get("n") != new["n"]:
            changes.append(f"sd/n {old.get('sd')}/{old.get('n')} -> {new['sd']}/{new['n']}")
        changes += bl.stale_reasons(r, old)
        kinds[r.key] = "changed" if changes else "unchanged"
        lines.append(f"- {r.key}: " + ("; ".join(changes) if changes else "unchanged (provenance and throughput only)"))
    untouched = sorted(set(entries) - {r.key for r in results})
    if untouched:
        lines.append(f"- untouched: {', '.join(untouched)}")
    return "\n".join(lines), kinds


def make_report(results_paths, out_dir) -> str:
    from .report_files import write_report

    profile, rows = report.merge(results_paths)
    files = write_report(rows, out_dir, title=f"glue-adapter-bench: profile {profile}")
    counts = {}
    for row in rows:
        counts[row.verdict.status] = counts.get(row.verdict.status, 0) + 1
    return "\n".join([report.to_text(rows), "verdicts: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                      *[f"wrote {f}" for f in files]])


def run_diagnose(args) -> str:
    import re

    from . import diagnose as dg
    from .methods import split_list
    from .session import ROOT, BenchSession

    session = BenchSession(_options(args, methods=args.method, tasks=args.task))
    [case] = session.cases()
    full_case = session.reference_case(case)
    factors = split_list(args.factors)
    for f in factors:
        if f not in dg.FACTORS:
            raise dg.SuiteError(f"Unknown factor '{f}'. Valid factors: {', '.join(dg.FACTORS)}.")
    runner = dg.DiskCache(args.cache_dir or ROOT / "results" / "cache", session.run)
    alpha = dg.ALPHA if getattr(args, "alpha", None) is None else _alpha(args.alpha)
    d = dg.diagnose(case, full_case, session.profile, runner, factors=factors, checks=not args.no_checks, alpha=alpha)
    out = Path(args.out) if args.out else ROOT / "results" / "diagnose" / re.sub(r"\W+", "_", f"{case.task}-{case.method}").strip("_")
    files = dg.write(d, out)
    return "\n".join([dg.to_markdown(d).split("## Every variant")[0].rstrip(),
                      f"(reused {runner.hits} earlier runs from the cache)", *[f"wrote {f}" for f in files]])


def _alpha(text: str) -> float:
    from .errors import SuiteError

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise SuiteError(f"--alpha must be a number between 0 and 1 (e.g. 0.05), got '{text}'.")
    return value


def run_cases(args) -> str:
    """Cases of a profile outside pytest; under DDP every rank trains, the main process reports and writes."""
    from .session import BenchSession

    session = BenchSession(_options(args, methods=args.methods, tasks=args.tasks, results_json=args.results_json))
    for case in session.cases():
        session.add(session.run(case))
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return ""
    lines = session.finish()
    return "\n".join([session.summary(), *lines])


def _options(args, **fields):
    """Session options from the shared command-line flags (profile, glue dir, model, seeds, lr) plus ``fields``."""
    from .session import Options, parse_lr, parse_seeds

    return Options(profile=args.profile, glue_dir=args.glue_dir, model=args.model,
                   seeds=parse_seeds(args.seeds) if args.seeds else None, lr=parse_lr(args.lr) if args.lr else None,
                   **fields)
