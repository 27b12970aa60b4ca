"""Paired effects and their verdicts: every variant against the case itself on the same seeds (per-seed
differences, t interval), Holm-corrected across all variants of the diagnosis; the gap to full fine-tuning; the
conclusion in words. The generic statistics (ALPHA, holm, t tests) are ``suite.gate.statistics``."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from suite.errors import SuiteError
from suite.gate.statistics import ALPHA, holm, t_tests
from suite.gate.verdicts import DEFAULT_RESOLUTION
from suite.tools.diagnose.grid import CAUSE, FACTORS, GRID

STATISTICS = ("each variant is compared with the case itself on the same seeds: per seed, variant minus case "
              "(points); mean, two-sided paired t test and t interval (n-1 degrees of freedom); Holm's step-down "
              "correction across all {m} variants of this diagnosis at family-wise alpha {alpha:g}; a corrected "
              "interval is the t interval at the level Holm tested that variant at, so it excludes zero exactly "
              "when Holm rejects. A factor closes the gap when a variant's corrected interval lies above zero, "
              "makes it worse when none does and one lies below. The gap is a paired t interval of case minus "
              "full fine-tuning at {level:g}%")
ONE_SEED = ("one seed: no noise estimate, so effects are shown without verdicts (nothing is called closing or "
            "not mattering)")


@dataclass
class GapStat:
    """The case's gap to full fine-tuning, per seed paired."""
    diffs: list[float]            # per seed: case - full (points)
    mean: float
    sd: float | None              # None with one seed
    ci: list[float] | None        # t interval at 1 - alpha; None with one seed
    p: float | None
    verdict: str                  # "trails", "ahead", "inside seed noise", "one seed"

    @property
    def outside_noise(self) -> bool:
        return self.verdict in ("trails", "ahead")


def _se(sd: float, n: int, resolution: float) -> float:
    """The standard error of a mean of ``n`` per-seed differences, never below the metric's resolution: identical
    differences (accuracy moves in whole examples) are not "no noise"."""
    return max(sd / math.sqrt(n), resolution)


def gap_stat(diffs: list[float], alpha: float = ALPHA, resolution: float = DEFAULT_RESOLUTION) -> GapStat:
    if not diffs:
        raise SuiteError("diagnose: the case and full fine-tuning share no successful seed; nothing to compare.")
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return GapStat(list(diffs), mean, None, None, None, "one seed")
    sd = statistics.stdev(diffs)
    [p], [ci] = t_tests([mean], [_se(sd, len(diffs), resolution)], [len(diffs) - 1], [alpha])
    verdict = "inside seed noise" if ci[0] <= 0 <= ci[1] else ("trails" if mean < 0 else "ahead")
    return GapStat(list(diffs), mean, sd, ci, p, verdict)


@dataclass
class VariantEffect:
    """One variant against the case itself, on the same seeds."""
    factor: str
    label: str
    diffs: list[float]              # per seed: variant - case (points); positive: closer to full fine-tuning
    n: int
    mean: float | None
    sd: float | None
    ci: list[float] | None          # t interval at 1 - alpha, uncorrected
    p: float | None                 # two-sided paired t test of a zero mean
    p_holm: float | None            # Holm-adjusted over every tested variant of the diagnosis
    ci_holm: list[float] | None     # t interval at the level Holm tested it at
    verdict: str                    # "closes", "makes it worse", "no detectable effect", "effect only (one seed)",
                                    # "failed"


@dataclass
class FactorEffect:
    """A factor's verdict and the variant it is about: for "closes" the largest significant gain, for "makes it
    worse" the largest significant loss, otherwise the largest mean effect."""
    factor: str
    verdict: str                    # as VariantEffect, plus "skipped"
    best_label: str | None
    closed: float | None            # that variant's mean effect on the case (points; positive closes the gap)
    ci_holm: list[float] | None
    p_holm: float | None
    best_gap: float | None          # the gap to full fine-tuning with it (case gap + effect)
    closed_pct: float | None        # % of the gap: only when the gap is outside seed noise and negative
    worse: list[str] = field(default_factory=list)   # variants with a significant loss
    n_variants: int = 0
    skipped: str | None = None


def judge_effects(gap: GapStat, rows: list[tuple[str, str, list[float]]], skipped: dict[str, str],
                  factors=FACTORS, alpha: float = ALPHA,
                  resolution: float = DEFAULT_RESOLUTION) -> tuple[list[VariantEffect], list[FactorEffect]]:
    """Per variant (factor, label, per-seed differences to the case) its paired effect and Holm-corrected verdict;
    per factor the verdict of its variants. The report and the tests' null simulation both judge through this."""
    out = []
    for factor, label, diffs in rows:
        n = len(diffs)
        mean = statistics.fmean(diffs) if n else None
        sd = statistics.stdev(diffs) if n >= 2 else None
        out.append(VariantEffect(factor, label, list(diffs), n, mean, sd, None, None, None, None,
                                 "failed" if n == 0 else "effect only (one seed)"))
    tested = [v for v in out if v.n >= 2]
    if tested:
        means = [v.mean for v in tested]
        ses = [_se(v.sd, v.n, resolution) for v in tested]
        dofs = [v.n - 1 for v in tested]
        ps, cis = t_tests(means, ses, dofs, [alpha] * len(tested))
        adjusted, levels = holm(ps, alpha)
        _, cis_holm = t_tests(means, ses, dofs, levels)
        for v, p, ci, pa, ch in zip(tested, ps, cis, adjusted, cis_holm):
            v.p, v.ci, v.p_holm, v.ci_holm = p, ci, pa, ch
            v.verdict = ("closes" if ch[0] > 0 else "makes it worse") if pa <= alpha else "no detectable effect"
    factor_effects = []
    for factor in factors:
        mine = [v for v in out if v.factor == factor]
        measured = [v for v in mine if v.n]
        if not measured:
            factor_effects.append(FactorEffect(factor, "skipped" if factor in skipped or not mine else "failed",
                                               None, None, None, None, None, None,
                                               skipped=skipped.get(factor) or ("no variant to run" if not mine
                                                                               else "every variant's run failed")))
            continue
        closes = [v for v in measured if v.verdict == "closes"]
        worse = [v for v in measured if v.verdict == "makes it worse"]
        if closes:
            verdict, about = "closes", max(closes, key=lambda v: v.mean)
        elif worse:
            verdict, about = "makes it worse", min(worse, key=lambda v: v.mean)
        else:
            about = max(measured, key=lambda v: v.mean)
            verdict = about.verdict if about.n < 2 else "no detectable effect"
        pct = 100.0 * about.mean / -gap.mean if gap.verdict == "trails" else None
        factor_effects.append(FactorEffect(factor, verdict, about.label, about.mean, about.ci_holm, about.p_holm,
                                           gap.mean + about.mean, pct, [v.label for v in worse], len(mine)))
    return out, factor_effects


def _interval(ci) -> str:
    return "-" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def conclude(gap: GapStat, effects: list[FactorEffect], method: str, n_seeds: int, rerun: str | None = None,
             alpha: float = ALPHA) -> str:
    level = f"{100 * (1 - alpha):g}%"
    if gap.verdict == "one seed":
        lead = f"{method} is {gap.mean:+.2f} points from full fine-tuning (one seed: no noise estimate)."
    elif gap.verdict == "trails":
        lead = (f"{method} trails full fine-tuning by {-gap.mean:.2f} points ({level} t interval "
                f"{_interval(gap.ci)} over {n_seeds} paired seeds).")
    elif gap.verdict == "ahead":
        lead = f"{method} does not trail full fine-tuning: it is {gap.mean:+.2f} points ahead ({_interval(gap.ci)})."
    else:
        lead = (f"The gap of {method} to full fine-tuning ({gap.mean:+.2f} points, {level} t interval "
                f"{_interval(gap.ci)}) is inside seed noise: there is no gap to explain at {n_seeds} seeds.")
    parts = [lead]
    measured = [e for e in effects if e.closed is not None]
    if gap.verdict == "one seed":
        ranked = sorted(measured, key=lambda e: e.closed, reverse=True)
        if ranked:
            parts.append("Effects, not verdicts: " + "; ".join(f"{e.factor} ({e.best_label}) {e.closed:+.2f}"
                                                               for e in ranked) + " points.")
        parts.append(f"{ONE_SEED[0].upper()}{ONE_SEED[1:]}." + (f" {rerun}" if rerun else ""))
        return " ".join(parts)
    closing = sorted([e for e in effects if e.verdict == "closes"], key=lambda e: e.closed, reverse=True)
    for i, e in enumerate(closing):
        share = f"{e.closed_pct:.0f}% of the gap, " if e.closed_pct is not None else ""
        what = f"{e.best_label} gains {share}{e.closed:+.2f} points (Holm-corrected interval {_interval(e.ci_holm)})"
        parts.append(f"The gap is mostly {e.factor}, {CAUSE[e.factor]}: {what}." if i == 0 and gap.verdict == "trails"
                     else f"{e.factor} matters: {what}.")
    if closing:
        parts.append("Remedy: " + GRID[closing[0].factor].remedy.format(variant=closing[0].best_label) + ".")
    else:
        parts.append("No factor's variant closes the gap beyond seed noise (Holm-corrected).")
    worse = [e for e in effects if e.verdict == "makes it worse"]
    if worse:
        parts.append("Makes it worse: " + ", ".join(f"{e.factor} ({', '.join(e.worse)})" for e in worse) + ".")
    quiet = [e.factor for e in effects if e.verdict == "no detectable effect"]
    if quiet:
        parts.append(f"No effect detectable at {n_seeds} seeds (not proof that they do not matter): "
                     f"{', '.join(quiet)}.")
    return " ".join(parts)
