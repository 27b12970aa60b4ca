"""What the maintainer commands print: pure functions over baseline and results files."""

from __future__ import annotations

import json
from pathlib import Path

from . import baselines as bl
from .errors import SuiteError
from .profiles import get_profile
from .results import CaseResult


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


def load_results(path) -> tuple[str, list[CaseResult]]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc["profile"], [CaseResult.from_dict(c) for c in doc["cases"]]
    except FileNotFoundError:
        raise SuiteError(f"Results file {path} does not exist; write one with pytest benchmarks --results-json PATH.") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path} is not a results file written by --results-json ({type(exc).__name__}: {exc}).") from None


def baselines_diff(results_path, baselines_dir=None) -> tuple[str, dict[str, str]]:
    """A review-friendly account of what `--update-baselines` from these results would change."""
    profile, results = load_results(results_path)
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
