"""Every option of a benchmark run, declared once.

``OPTIONS`` lists each option with its flag, parser, default and help. The pytest option group (suite/pytest_plugin.py)
and the run-shaped ``python -m suite`` subcommands (``run``; ``diagnose`` and ``calibrate`` take the subset they
need) are built from it, so names, parsing, defaults and help cannot drift apart. Every parser turns a bad value
into one ``SuiteError`` line.

Names: the pytest options do not collide with well-known plugins. ``--bench-profile`` is the canonical name of
the profile option; ``--profile`` is accepted as an alias unless pytest-profiling is installed (it owns
``--profile``). Every other option name is unique to this suite.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from suite.config.methods import get_method, split_list
from suite.config.paths import DEFAULT_BASELINES, DEFAULT_HISTORY, ROOT  # noqa: F401  (ROOT: re-exported)
from suite.config.profiles import PROFILES
from suite.config.speed import parse_speed
from suite.config.tasks import get_task
from suite.errors import SuiteError, shown

MAX_SEED = 2**32 - 1  # numpy's legacy seeding (transformers.set_seed) takes 0 .. 2**32 - 1


# --- parsers (one clear line per mistake) -------------------------------------------------------------------

def parse_seeds(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in str(text).split(",")]
    if any(parts) and not all(parts):
        raise SuiteError(f"--seeds '{shown(text)}' has an empty item; write integers separated by single commas, "
                         "e.g. --seeds 0,1,2.")
    items = split_list(text)
    try:
        seeds = tuple(int(s) for s in items)
    except ValueError:
        raise SuiteError(f"Seeds must be integers separated by commas, e.g. --seeds 0,1,2; "
                         f"got '{shown(text)}'.") from None
    if not seeds:
        raise SuiteError("--seeds needs at least one integer, e.g. --seeds 0.")
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise SuiteError(f"Seeds must be between 0 and {MAX_SEED} (numpy's seed range); got {shown(bad[0])}.")
    if len(set(seeds)) != len(seeds):
        raise SuiteError(f"Seeds must be distinct; got '{shown(text)}'.")
    return seeds


def _points(text: str, what: str, example: str) -> float:
    """A finite, non-negative number of points (0-100 scale)."""
    try:
        value = float(text)
    except ValueError:
        raise SuiteError(f"{what} must be a number of points (0-100 scale), e.g. {example}; "
                         f"got '{shown(text)}'.") from None
    if not math.isfinite(value) or value < 0:
        raise SuiteError(f"{what} must be a finite number >= 0 points; got '{shown(text)}'.")
    return value


def parse_tolerance(text: str) -> float:
    return _points(text, "Tolerance", "--tolerance 0.5")


def parse_lr(text: str) -> dict[str, float]:
    """'full=2e-5,seq_bn=1e-4' or 'adapter=1e-3' (a family); method config strings keep their brackets."""
    out = {}
    for item in split_list(text):
        name, sep, value = item.rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = None
        if not sep or not name or rate is None or not math.isfinite(rate) or rate <= 0:
            raise SuiteError(f"--lr takes NAME=RATE pairs with a positive rate, NAME a method or a family (full, "
                             f"adapter), e.g. --lr full=2e-5,adapter=1e-3; got '{shown(item)}'.")
        if name not in ("full", "adapter"):
            name = get_method(name).name
        out[name] = rate
    return out


def parse_max_gap(text: str) -> float:
    return _points(text, "--max-gap", "--max-gap 0.5")


def parse_percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise SuiteError(f"--throughput-tolerance must be a percentage, e.g. 10 or 10%; got '{shown(text)}'.") from None
    if not math.isfinite(value) or not 0 <= value < 100:
        raise SuiteError(f"--throughput-tolerance must be between 0 and 100 percent; got '{shown(text)}'.")
    return value


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4): this CI job runs the 2nd of 4 round-robin slices of the cases."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SuiteError(f"--shard takes I/N with 1 <= I <= N, e.g. --shard 2/4; got '{shown(text)}'.") from None
    if not 1 <= i <= n:
        raise SuiteError(f"--shard takes I/N with 1 <= I <= N, e.g. --shard 2/4; got '{shown(text)}'.")
    return i, n


def parse_tasks(text: str) -> tuple[str, ...]:
    """Distinct task names in the order given; an empty list is a mistake, not "the profile's tasks"."""
    tasks = tuple(dict.fromkeys(get_task(t).name for t in split_list(text)))
    if not tasks:
        raise SuiteError("--tasks is empty; name at least one GLUE task, e.g. --tasks sst2,mnli.")
    return tasks


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SuiteError(f"Expected a whole number; got '{shown(text)}'.") from None


def parse_path(text: str) -> str:
    if not str(text).strip():
        raise SuiteError("An empty path was given; name a file or folder.")
    if "\0" in text:
        raise SuiteError("A path must not contain NUL bytes.")
    long = [part for part in Path(text).parts if len(part.encode("utf-8", "surrogateescape")) > 255]
    if long:
        raise SuiteError(f"A path component is longer than 255 bytes ({long[0][:40]}...); the file system refuses "
                         "it. Choose a shorter path.")
    return str(text)


# --- the declaration --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Opt:
    flag: str                        # "--glue-dir"
    dest: str                        # Options field
    help: str
    parse: Callable[[str], Any] | None = None   # None: a boolean switch
    metavar: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def is_switch(self) -> bool:
        return self.parse is None


def _profiles() -> str:
    return ", ".join(PROFILES)


OPTIONS: tuple[Opt, ...] = (
    Opt("--bench-profile", "profile", "benchmark profile: smoke, quick, paper or unit "
        "(docs/profiles-tasks-methods.md). Default: smoke", str, "NAME", aliases=("--profile",)),
    Opt("--glue-dir", "glue_dir", "local GLUE folder in the classic TSV layout (else $GLUE_DIR, else the Hub)",
        parse_path, "DIR"),
    Opt("--model", "model", "minilm (embedded), tiny (wiring tests: learns nothing, its cases fail as degenerate), "
        "bert-base-random (speed only), a Hub id or a local path. "
        "Default: the profile's", str, "ID"),
    Opt("--methods", "methods", "comma list of methods or adapters config strings, e.g. "
        "'full,seq_bn[reduction_factor=4]'. Default: the profile's", str, "LIST"),
    Opt("--tasks", "tasks", "comma list of GLUE tasks. Default: the profile's", str, "LIST"),
    Opt("--seeds", "seeds", "comma list of integer seeds; each case aggregates over them. Default: the profile's",
        None, "LIST"),  # parser set below (needs parse_seeds)
    Opt("--lr", "lr", "learning rates by method or family, e.g. 'full=2e-5,adapter=1e-3,lora=5e-4'. Default: the "
        "profile's rates", None,
        "NAME=RATE,..."),
    Opt("--speed", "speed", "engine speed options, comma list of: compile, cpu-bf16, eager-attention, foreach-adamw, "
        "loop-adamw (docs/speed-and-scale.md; part of the config hash). Default: the profile's", None, "LIST"),
    Opt("--tolerance", "tolerance", "allowed drop below baseline in points (0-100), overriding baseline entry and "
        "profile. Default: the entry's, else the profile's", None, "POINTS"),
    Opt("--max-gap", "max_gap", "fail an adapter case that trails full fine-tuning of the same run by more than "
        "POINTS (judged where all results are: never retrains). Default: off", None, "POINTS"),
    Opt("--throughput-tolerance", "throughput_tolerance", "fail a case whose training samples/s dropped more than "
        "PCT%% below its baseline on this same hardware. Default: off", None, "PCT"),
    Opt("--shard", "shard", "run only the I-th of N slices of the cases, a task's cases kept together (CI "
        "matrix); merge results with python -m suite report merge", None, "I/N"),
    Opt("--strict-baselines", "strict_baselines", "fail a case that has no usable baseline (no entry, stale, or "
        "one a dead model passes) instead of skipping it; CI uses this"),
    Opt("--update-baselines", "update_baselines", "re-measure the selected cases and rewrite only their baseline "
        "entries (atomically); degenerate and failed runs are refused"),
    Opt("--results-json", "results_json", "write every case result (per seed, verdict, gap) to PATH. Default: not "
        "written", parse_path,
        "PATH"),
    Opt("--report-dir", "report_dir", "write report.md, report.html and plots to DIR at the end. Default: not "
        "written", parse_path, "DIR"),
    Opt("--baselines-dir", "baselines_dir", "folder of <profile>.json baselines. Default: baselines/ in the project",
        parse_path, "DIR"),
    Opt("--history", "history", "results history (SQLite) every run appends to. Default: $GLUE_BENCH_HISTORY or "
        "results/history.sqlite", parse_path, "PATH"),
    Opt("--no-history", "no_history", "do not append this run to the results history"),
    Opt("--max-drift", "max_drift", "fail a case more than POINTS below its reference in the history (median of its "
        "config's first 3 runs since the last 'history ack'; catches slow drift that each baseline update "
        "re-anchored; use >= 2.5 x the sd of a run mean)", None, "POINTS"),
    Opt("--fail-on-change-point", "fail_on_change_point", "fail a case whose latest run lies after a step down in "
        "its history, on every rerun until 'python -m suite history ack' or a baseline update accepts it"),
    Opt("--adaptive-seeds", "adaptive_seeds", "run a case's seeds one at a time and stop as soon as the verdict is "
        "clear (sequential rule with stated error rates, docs/verdicts-and-calibration.md); needs a baseline entry"),
)


@dataclass
class Options:
    profile: str = "smoke"
    glue_dir: str | None = None
    model: str | None = None
    methods: str | None = None        # comma list; None: the profile's
    tasks: str | None = None
    seeds: tuple[int, ...] | None = None
    lr: dict[str, float] | None = None  # learning-rate overrides by method name or family
    speed: tuple[str, ...] | None = None  # engine speed options (suite.config.speed); None: the profile's
    shard: tuple[int, int] | None = None  # (i, n): the i-th of n slices of the cases, tasks kept together
    tolerance: float | None = None    # overrides entry and profile tolerances
    max_gap: float | None = None      # fail an adapter trailing full fine-tuning (same run) by more points
    throughput_tolerance: float | None = None  # % drop of train samples/s allowed on matching hardware; None: off
    update_baselines: bool = False
    strict_baselines: bool = False    # a case with no usable baseline (no-baseline, stale) fails instead of skipping
    results_json: str | None = None
    report_dir: str | None = None     # write report.md/.html and plots there at the end
    baselines_dir: str = str(DEFAULT_BASELINES)
    history: str | None = None        # None: $GLUE_BENCH_HISTORY, else results/history.sqlite ("" in the env: off)
    no_history: bool = False
    max_drift: float | None = None
    fail_on_change_point: bool = False
    adaptive_seeds: bool = False

    @classmethod
    def from_values(cls, values: dict) -> Options:
        """Options from parsed values keyed by dest; None means "not given" (the field's default)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})

    def history_path(self) -> Path | None:
        """Where this run appends its history; None when off (--no-history, or GLUE_BENCH_HISTORY set empty)."""
        if self.no_history:
            return None
        if self.history:
            return Path(self.history)
        env = os.environ.get("GLUE_BENCH_HISTORY")
        if env is not None:
            return Path(env) if env.strip() else None
        return Path(DEFAULT_HISTORY)


def _bind() -> tuple[Opt, ...]:
    parsers = {"speed": parse_speed, "seeds": parse_seeds, "lr": parse_lr, "tolerance": parse_tolerance,
               "max_gap": parse_max_gap, "throughput_tolerance": parse_percent, "shard": parse_shard,
               "max_drift": parse_max_drift}
    out = []
    for o in OPTIONS:
        if o.dest in parsers:
            o = Opt(o.flag, o.dest, o.help, parsers[o.dest], o.metavar, o.aliases)
        out.append(o)
    return tuple(out)


def parse_max_drift(text: str) -> float:
    return _points(text, "--max-drift", "--max-drift 1.0")


OPTIONS = _bind()
BY_DEST = {o.dest: o for o in OPTIONS}


def add_to_argparse(parser, dests: tuple[str, ...] | None = None, *, with_alias: bool = True) -> None:
    """Add the declared options (all, or those named) to an argparse parser; values stay strings and are parsed by
    ``options_from_args`` so that a bad value is one SuiteError line, like everywhere else."""
    for o in OPTIONS:
        if dests is not None and o.dest not in dests:
            continue
        flags = [o.flag, *(o.aliases if with_alias else ())]
        if o.is_switch:
            parser.add_argument(*flags, dest=o.dest, action="store_true", default=False, help=o.help)
        else:
            parser.add_argument(*flags, dest=o.dest, default=None, metavar=o.metavar, help=o.help)


def options_from_args(ns, **fixed) -> Options:
    """Options from an argparse namespace whose declared options are raw strings (see add_to_argparse)."""
    values = {}
    for o in OPTIONS:
        if not hasattr(ns, o.dest):
            continue
        raw = getattr(ns, o.dest)
        values[o.dest] = raw if (o.is_switch or raw is None or not isinstance(raw, str)) else o.parse(raw)
    values.update(fixed)
    return Options.from_values(values)
