"""``python -m suite baselines show|diff|update``: inspect a profile's baseline file, review what an update from a
results file would change, and record entries from results files (the shards of a GPU run)."""

from __future__ import annotations

from suite.commands import common
from suite.config.profiles import PROFILES, get_profile
from suite.errors import SuiteError, printable
from suite.gate import baselines as bl
from suite.gate import verdicts as vd
from suite.gate.calibration import noise_lines
from suite.report.files import md_text
from suite.store import results_files

NAME = "baselines"
HELP = "inspect baseline files, review an update (diff) and record entries from results files (update)"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fmt = parser.formatter_class
    show = actions.add_parser("show", formatter_class=fmt, help="list the entries of one profile's baseline file")
    show.add_argument("--profile", default="smoke", help="the profile whose baselines/<profile>.json to list")
    diff = actions.add_parser("diff", formatter_class=fmt,
                              help="what an update from a results file would change, entry by entry")
    diff.add_argument("results", metavar="RESULTS.json", help="a file written by --results-json")
    upd = actions.add_parser("update", formatter_class=fmt,
                             help="record entries from results files (e.g. the shards of a GPU run), with the same "
                                  "checks as --update-baselines: failed and degenerate runs are refused")
    upd.add_argument("results", nargs="+", metavar="RESULTS.json", help="files written by --results-json")
    check = actions.add_parser("check", formatter_class=fmt,
                               help="whether a profile has recorded entries to gate against: exit 0 when it has, "
                                    "1 with one line saying how to record them when it has none (a broken file: 2)")
    check.add_argument("--profile", default="smoke", help="the profile whose baselines/<profile>.json to check")
    for p in (show, diff, upd, check):
        p.add_argument("--baselines-dir", default=None, metavar="DIR",
                       help="folder of <profile>.json baselines (default: baselines/ in the project)")


def run(args) -> int:
    if args.action == "show":
        print(baselines_show(args.profile, args.baselines_dir))
        return 0
    if args.action == "check":
        text, recorded = baselines_check(args.profile, args.baselines_dir)
        print(text)
        return 0 if recorded else 1
    if args.action == "diff":
        print(baselines_diff(args.results, args.baselines_dir)[0])
        return 0
    text, refused = baselines_update(args.results, args.baselines_dir)
    print(text)
    return 1 if refused else 0


def baselines_check(profile: str, baselines_dir=None) -> tuple[str, bool]:
    """(one line, whether the profile has entries the gates use). A missing file is no entries; a broken one (an
    unknown schema version too) is a SuiteError, as the judge's loader (the same ``bl.load``) says. Legacy keys
    ``task/method`` (before keys named the model) are never looked up by the judge: counted apart, with the fix."""
    prof = get_profile(profile)
    path = bl.baseline_path(common.baselines_dir(baselines_dir), prof.name)
    entries = bl.load(path)["entries"]
    legacy = sorted(k for k in entries if "@" not in k)
    gated = len(entries) - len(legacy)
    note = ""
    if legacy:
        shown_keys = ", ".join(printable(k) for k in legacy[:5]) + (" ..." if len(legacy) > 5 else "")
        note = (f"; {len(legacy)} legacy task/method entr{'y' if len(legacy) == 1 else 'ies'} ({shown_keys}) "
                "never used: the gates look up task/method@model; re-record them with --update-baselines, or "
                "rename each key to task/method@MODEL")
    if gated:
        return f"{path}: {gated} entr{'y' if gated == 1 else 'ies'} to gate against{note}", True
    return (f"no {prof.name} baselines yet ({path} has no entries the gates use{note}), so nothing is gated; record "
            f"them: the gpu-benchmarks workflow run with 'record baselines', or pytest benchmarks --bench-profile "
            f"{prof.name} --update-baselines"), False


def baselines_show(profile: str, baselines_dir=None) -> str:
    prof = get_profile(profile)
    directory = common.baselines_dir(baselines_dir)
    if baselines_dir and not directory.exists():
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
        lines.append(f"| {cell(key)} | {cell(e.get('metric', '?'))} | {e['mean']:.2f} "
                     f"| {sd_text(e.get('sd'), e.get('n'))} | {e.get('n', '?')} "
                     f"| {'?' if floor is None else f'{floor:.2f}'} | {margin} | {tol:.2f} "
                     f"| {cell(e.get('config_hash', '?'))} "
                     f"| {cell((p.get('date') or '?')[:10])} | {cell((p.get('git_commit') or '?')[:10])} |")
    if any(not (e.get("provenance") or {}).get("git_commit") for e in entries.values()):
        lines.append("commit ?: recorded outside a git checkout (or before commits were recorded); the date and "
                     "versions still say when")
    return "\n".join(lines + noise_lines(entries, prof, cell))


def cell(value) -> str:
    """Text from a baseline file in a table cell: control characters escaped, no raw HTML, bars or backticks."""
    return md_text(printable(value))


def sd_text(sd, n) -> str:
    """A seed sd, or "-" where there is none: one seed (n 1) has no spread to show, and "0.00" would claim one."""
    if not isinstance(sd, (int, float)) or (isinstance(n, int) and n < 2):
        return "-"
    return f"{sd:.2f}"


def baselines_diff(results_path, baselines_dir=None) -> tuple[str, dict[str, str]]:
    """A review-friendly account of what `--update-baselines` from these results would change."""
    profile, file_rows = results_files.load_results(results_path)
    results = [row.result for row in file_rows]
    path = bl.baseline_path(common.baselines_dir(baselines_dir), profile)
    entries = bl.load(path)["entries"]
    lines = [f"update of {path} from {results_path}:"]
    kinds = {}
    prof = get_profile(profile) if profile in PROFILES else None
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
            changes.append(f"{new['metric']} {old.get('mean'):.2f} -> {new['mean']:.2f} "
                           f"({new['mean'] - old.get('mean', 0):+.2f})")
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
    profile, rows = results_files.merge(results_paths, allow_partial=True)  # records only the entries given
    prof = get_profile(profile)
    path = bl.baseline_path(common.baselines_dir(baselines_dir), prof.name)
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
