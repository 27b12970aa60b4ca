"""``python -m suite calibrate``: measure each case's seed noise over N seeds and, from it, the drop the gate
catches, its false-alarm rate and the seeds/tolerance a target drop needs (suite.gate.calibration); store the
figures in the baselines (--write-baselines, or --from-json FILE without retraining); --simulate prints the
adaptive-seeds benchmark."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

from suite import files
from suite.config.options import Options
from suite.config.paths import DEFAULT_BASELINES
from suite.config.profiles import get_profile
from suite.errors import SuiteError, shown
from suite.gate import adaptive
from suite.gate import baselines as bl
from suite.gate import calibration as cal
from suite.gate import verdicts as vd
from suite.session import preflight
from suite.session.bench import BenchSession

NAME = "calibrate"
HELP = ("measure seed noise; the drop the gate catches, its false alarms, and the seeds/tolerance a target drop "
        "needs (also: --simulate, adaptive seeds)")


def add_arguments(parser) -> None:
    parser.add_argument("--profile", default="smoke", help="the profile whose cases to calibrate")
    parser.add_argument("--tasks", default=None, metavar="LIST", help="comma list of tasks (default: the profile's)")
    parser.add_argument("--methods", default=None, metavar="LIST",
                        help="comma list of methods (default: the profile's)")
    parser.add_argument("--seeds", default=None, metavar="N",
                        help=f"how many seeds to run per case (>= 2; default {cal.DEFAULT_SEEDS}); with --simulate: "
                             "the most seeds the adaptive rule may run (default 3)")
    parser.add_argument("--detect", default=None, metavar="POINTS",
                        help="target detectable drop in points for the recommendation (default: 2 x the case's "
                             "tolerance)")
    parser.add_argument("--glue-dir", default=None, metavar="DIR",
                        help="local GLUE folder in the classic TSV layout (else $GLUE_DIR, else the Hub)")
    parser.add_argument("--model", default=None, metavar="ID", help="the model (default: the profile's)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the figures as JSON here")
    parser.add_argument("--write-baselines", action="store_true",
                        help="store the figures as the 'noise' block of the matching baseline entries")
    parser.add_argument("--baselines-dir", default=None, metavar="DIR",
                        help="folder of <profile>.json baselines (default: baselines/ in the project)")
    parser.add_argument("--from-json", default=None, metavar="FILE",
                        help="no training: the figures of an earlier --out FILE, recomputed from its per-seed values "
                             "under the current rule, into the baselines (with --write-baselines, after checking each "
                             "entry's config hash and data) and/or a new --out FILE")
    parser.add_argument("--recompute", action="store_true",
                        help="no training: recompute the figures of the noise blocks already in the profile's "
                             "baselines from the per-seed values they store, under the current rule (write them "
                             "back with --write-baselines)")
    parser.add_argument("--simulate", action="store_true",
                        help="no training: print the adaptive-seeds benchmark (seed-runs saved, regressions caught) "
                             "from simulation")


def run(args) -> int:
    text, status = calibrate(args)
    print(text)
    return status


MAX_SIMULATED_SEEDS = 10
MAX_SEEDS = 50  # seeds per case: beyond this, calibrate (or its --simulate Monte Carlo) would run for days


def parse_seed_count(text: str | None, most: int = MAX_SEEDS) -> int:
    if text is None:
        return cal.DEFAULT_SEEDS
    try:
        n = int(text)
    except ValueError:
        raise SuiteError(f"--seeds takes a number of seeds for calibrate, e.g. --seeds 5; got '{text}'.") from None
    if n < 2:
        raise SuiteError(f"calibrate needs at least 2 seeds to estimate noise; got --seeds {text}.")
    if n > most:
        raise SuiteError(f"--seeds {text} is more than calibrate runs or simulates here (at most {most}); "
                         "choose fewer.")
    return n


def parse_detect(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SuiteError(f"--detect takes the drop to detect, a number of points > 0 (0-100 scale), e.g. "
                         f"--detect 0.5; got '{text}'.")
    return value


def calibrate(args) -> tuple[str, int]:
    """Returns (text, exit status): 1 when a case could not be calibrated."""
    n = parse_seed_count(args.seeds, most=MAX_SIMULATED_SEEDS if args.simulate else MAX_SEEDS)
    detect = parse_detect(args.detect)
    if args.simulate and (args.out is not None or args.write_baselines
                          or getattr(args, "from_json", None) is not None):
        raise SuiteError("--simulate prints the adaptive-seeds benchmark only; it measures no case, so --out, "
                         "--write-baselines and --from-json do not apply. Drop them, or drop --simulate.")
    stored = _from_stored_figures(args, detect)
    if stored is not None:
        return stored
    if args.simulate:
        return adaptive.benchmark_text(args.profile, max_seeds=n if args.seeds else 3), 0
    options = Options(profile=args.profile, glue_dir=args.glue_dir, model=args.model, methods=args.methods,
                      tasks=args.tasks, seeds=tuple(range(n)),
                      **({"baselines_dir": args.baselines_dir} if args.baselines_dir else {}))
    if args.out is not None:  # refused now, not after training
        _check_out(args.out)
        preflight.check_not_state(args.out, "--out", [(bl.baseline_path(
            args.baselines_dir or DEFAULT_BASELINES, get_profile(args.profile).name), "the baselines file")])
    session = BenchSession(options)
    session.check_data()
    cals = []
    for case in session.cases():
        result = session.run(case)
        cals.append((cal.calibrate_result(result, session.entry(result), session.profile, detect),
                     session.entry(result)))
    lines = [cal.render(session.profile.name, [c for c, _ in cals], n)]
    status = 1 if any(c.error for c, _ in cals) else 0
    if args.out:
        try:
            bl.write_text_atomic(args.out, json.dumps({"profile": session.profile.name, "seeds": n, "power": cal.POWER,
                                                   "reps": cal.REPS, "rng_seed": cal.RNG_SEED,
                                                   "cases": [c.to_dict() for c, _ in cals]}, indent=2) + "\n")
            lines.append(f"wrote {args.out}")
        except SuiteError as exc:
            lines.append(f"ERROR: could not write --out ({exc}); the figures are above")
            status = 1
    if args.write_baselines:
        blocks = {c.key: c.noise_block() for c, _ in cals if c.entry_matches and not c.error}
        skipped = [f"{c.key} (" + ("no baseline entry: record one with --update-baselines first" if e is None
                                   else "the entry measured another config or data, see above") + ")"
                   for c, e in cals if not c.entry_matches and not c.error]
        try:
            written, refused = bl.set_noise(session.baseline_file, blocks) if blocks else ([], [])
        except (SuiteError, OSError) as exc:
            written, refused, status = [], [f"any entry ({getattr(exc, 'strerror', None) or exc})"], 1
        if written:
            lines.append(f"{session.baseline_file}: noise figures written for {', '.join(written)}")
        lines += [f"{session.baseline_file}: NOT written for {r}" for r in refused + skipped]
    return "\n".join(lines), status


def _check_out(path) -> None:
    out = Path(path)
    if out.is_dir():
        raise SuiteError(f"--out {out} is a folder; name a .json file for the calibration figures.")
    preflight.check_file_target(out, "--out")  # a FIFO or a device is refused


def _read_calibration(path):
    """(profile, cases without an error) of a file written by ``calibrate --out``: the bounded reader of state files,
    strict JSON, every number finite and in bounds."""
    try:
        stored = bl.parse_strict(files.read_text(path))
        if problem := bl.number_problem(stored):
            raise ValueError(problem)
        return get_profile(stored["profile"]), [c for c in stored["cases"] if not c.get("error")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SuiteError(f"--from-json {path}: not a calibration file written by --out "
                         f"({getattr(exc, 'strerror', None) or exc}).") from None


# options that choose what to train: the paths without training refuse them rather than ignore them
_TRAINING_OPTIONS = (("seeds", "--seeds"), ("tasks", "--tasks"), ("methods", "--methods"), ("model", "--model"),
                     ("glue_dir", "--glue-dir"))


def _from_stored_figures(args, detect: float | None) -> tuple[str, int] | None:
    """The paths without training: --recompute and --from-json; None for neither. Both refuse the options that
    only choose what to train, and a --baselines-dir that is not a folder."""
    mode = ("--recompute" if getattr(args, "recompute", False) else
            "--from-json" if getattr(args, "from_json", None) is not None else None)
    if mode is None:
        return None
    given = [flag for attr, flag in _TRAINING_OPTIONS if getattr(args, attr, None) is not None]
    if given:
        raise SuiteError(f"{mode} trains nothing, so {', '.join(given)} would be ignored: drop "
                         f"{'it' if len(given) == 1 else 'them'} (the cases are the ones stored).")
    if args.baselines_dir is not None and not Path(args.baselines_dir).is_dir():
        raise SuiteError(f"--baselines-dir {args.baselines_dir} is not a folder; name the folder that holds "
                         "<profile>.json baselines.")
    return recompute(args, detect) if mode == "--recompute" else from_json(args, detect)


def recompute(args, detect: float | None) -> tuple[str, int]:
    """``--recompute``: the figures of every stored noise block of the profile, recomputed from its stored per-seed
    values under the current rule (``calibration.recompute_block``); written back with ``--write-baselines``."""
    if args.simulate or args.out is not None or getattr(args, "from_json", None) is not None:
        raise SuiteError("--recompute rereads the noise blocks already in the baselines; --simulate, --out and "
                         "--from-json do not apply (--from-json recomputes its file's figures itself). Drop them, "
                         "or drop --recompute.")
    profile = get_profile(args.profile)
    path = bl.baseline_path(args.baselines_dir or DEFAULT_BASELINES, profile.name)
    entries = bl.load(path).get("entries", {})
    cals, lines, status = [], [], 0
    for key in sorted(k for k, e in entries.items() if isinstance(e.get("noise"), dict)):
        entry = entries[key]
        tol = vd.tolerance_for(entry, vd.Policy(tolerance=profile.tolerance_for(key.split("/", 1)[0])))
        try:
            cals.append(cal.recompute_block(key, entry, tol, len(profile.seeds), detect))
        except SuiteError as exc:
            lines.append(f"{path}: NOT recomputed: {exc}")
            status = 1
    if not cals and not lines:
        return f"{path}: no entry has a noise block (python -m suite calibrate --write-baselines adds them)", 0
    text = [cal.render(profile.name, cals, max(len(c.values) for c in cals))
            + "\n(recomputed from the stored per-seed values, no training)"] if cals else []
    if args.write_baselines and cals:
        stamp = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        written, refused = bl.set_noise(path, {c.key: {**c.noise_block(), "recomputed": stamp} for c in cals})
        if written:
            lines.append(f"{path}: noise figures rewritten for {', '.join(written)}")
        lines += [f"{path}: NOT written for {r}" for r in refused]
        status = 1 if refused else status
    return "\n".join(text + lines), status


def _recomputed(c, source, detect: float | None = None) -> cal.Calibration:
    """One case of a ``--out`` file with its figures recomputed from its stored per-seed values under the current
    rule (the measurement kept: values, seeds, dates, config hash, data fingerprint), so that figures computed under
    an earlier rule never reach the baselines. Every field is checked first (``calibration.case_problem``): a
    boolean, a string or an out-of-range number is refused, never coerced."""
    if problem := cal.case_problem(c):
        name = c.get("key") if isinstance(c, dict) and isinstance(c.get("key"), str) else str(c)[:60]
        raise SuiteError(f"--from-json {source}: case {shown(name)} is not one written by --out ({problem}); "
                         "nothing was written.")
    target = detect or c.get("detect_target") or 2.0 * c["tolerance"]
    fresh = cal.calibrate_values(c["key"], c["metric"], c["values"], float(c["floor"]), float(c["tolerance"]),
                                 int(c["at_seeds"]), float(target), seeds=c.get("seeds"))
    fresh.measured, fresh.config_hash = str(c.get("measured") or ""), str(c.get("config_hash") or "")
    fresh.entry_matches, fresh.data_fingerprint = c.get("entry_matches") is True, c.get("data_fingerprint")
    return fresh


def _from_json_inputs(args):
    """(profile, stored cases, baselines file) of ``--from-json``, every option and the file checked before anything
    is computed or written."""
    if not str(args.from_json).strip():
        raise SuiteError("--from-json is empty; name the file an earlier calibrate --out wrote.")
    if not (args.write_baselines or args.out is not None):
        raise SuiteError("--from-json rereads an earlier --out file: add --write-baselines (store its figures) or "
                         "--out NEW.json (rewrite them under the current rule).")
    if args.out is not None:
        _check_out(args.out)
    profile, stored = _read_calibration(args.from_json)
    if args.profile not in (None, "smoke", profile.name):
        raise SuiteError(f"--from-json holds profile {profile.name}, not {args.profile}.")
    path = bl.baseline_path(args.baselines_dir or DEFAULT_BASELINES, profile.name)
    if args.out is not None:
        preflight.check_not_state(args.out, "--out", [(path, "the baselines file")])
    if not stored:
        raise SuiteError(f"--from-json {args.from_json}: no measured case in it (none, or every one failed); "
                         "nothing to recompute.")
    keys = [c.get("key") if isinstance(c, dict) else None for c in stored]
    if twice := next((k for k in keys if k is not None and keys.count(k) > 1), None):
        raise SuiteError(f"--from-json {args.from_json}: case {shown(twice)} appears more than once; keep one "
                         "measurement per case. Nothing was written.")
    return profile, stored, path


def from_json(args, detect: float | None = None) -> tuple[str, int]:
    """``--from-json FILE``: figures measured earlier (``--out FILE``), recomputed from their per-seed values under
    the current rule without retraining, stored in the baselines (``--write-baselines``; each case only in an entry
    of the config hash and data it was measured on) and/or written to ``--out NEW``."""
    profile, stored, path = _from_json_inputs(args)
    cases = [_recomputed(c, args.from_json, detect) for c in stored]
    lines, status = [cal.render(profile.name, cases, max((len(c.values) for c in cases), default=0))
                     + f"\n(recomputed from the per-seed values in {args.from_json}, no training)"], 0
    if args.out is not None:
        bl.write_text_atomic(args.out, json.dumps({"profile": profile.name, "seeds": max(
            (len(c.values) for c in cases), default=0), "power": cal.POWER, "reps": cal.REPS,
            "rng_seed": cal.RNG_SEED, "recomputed_from": str(args.from_json),
            "cases": [c.to_dict() for c in cases]}, indent=2) + "\n")
        lines.append(f"wrote {args.out}")
    if not args.write_baselines:
        return "\n".join(lines), status
    entries = bl.load(path).get("entries", {})
    blocks = {}
    for c in cases:
        entry = entries.get(c.key)
        same_data = c.data_fingerprint and entry is not None and entry.get("data_fingerprint") == c.data_fingerprint
        if not (same_data or c.entry_matches):  # when measured: same config hash and same data fingerprint
            lines.append(f"{path}: NOT written for {c.key} (the file does not show that it was measured on this "
                         "entry's data: " + ("its data fingerprint differs" if c.data_fingerprint else
                                             "no data fingerprint, and no entry of its config existed when it was "
                                             "measured") + f"; measure and attach it with python -m suite calibrate "
                         f"--profile {profile.name} --write-baselines)")
            continue
        if entry is None or entry.get("config_hash") != c.config_hash:
            lines.append(f"{path}: NOT written for {c.key} (no entry of config {c.config_hash}: record "
                         "one with --update-baselines first)")
            continue
        blocks[c.key] = c.noise_block()
    if blocks:
        written, refused = bl.set_noise(path, blocks)
        if written:
            lines.append(f"{path}: noise figures written for {', '.join(written)}")
        lines += [f"{path}: NOT written for {r}" for r in refused]
        status = 1 if refused else 0
    if len(blocks) < len(cases):
        status = 1  # some stored figures were not written: say so in the exit status too
    return "\n".join(lines), status
