"""Generic statistics behind the suite's judgements, in one place: the significance level, Holm's step-down
correction, and t tests (two-sided paired with intervals; one-sided one-sample p). The verdicts
(``suite.gate.verdicts``) and diagnose (``suite.tools.diagnose``) both judge through these; what a result means
stays with them."""

from __future__ import annotations

import math
import statistics

# The one significance level: the one-sided seed-noise tests of the verdicts, and the family-wise error rate of the
# verdicts of one diagnosis (and the level of its gap's interval).
ALPHA = 0.05


def holm(pvalues, alpha: float = ALPHA) -> tuple[list[float], list[float]]:
    """Holm's step-down procedure (hand-written: scipy has only false-discovery-rate corrections).

    Returns the adjusted p-values (reject when <= alpha) and, per hypothesis, the level it was tested at:
    alpha/(m-k) for the k-th smallest p (k from 0) up to the first one kept; that one and every later one get the
    level of the first one kept. An interval at that level excludes the null exactly when Holm rejects.
    """
    import numpy as np

    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    steps = alpha / (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    kept = np.flatnonzero(adjusted_sorted > alpha)
    levels_sorted = steps.copy()
    if kept.size:
        levels_sorted[kept[0]:] = steps[kept[0]]
    adjusted, levels = np.empty(m), np.empty(m)
    adjusted[order], levels[order] = adjusted_sorted, levels_sorted
    return adjusted.tolist(), levels.tolist()


def t_tests(means, ses, dofs, alphas) -> tuple[list[float], list[list[float]]]:
    """Two-sided p-values of mean 0 and (1 - alpha) t intervals; se 0 means no spread: p is 0 (or 1 at mean 0)."""
    import numpy as np
    from scipy import stats

    means, ses, dofs, alphas = (np.asarray(x, dtype=float) for x in (means, ses, dofs, alphas))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(ses > 0, np.abs(means) / np.where(ses > 0, ses, 1.0), np.where(means != 0, np.inf, 0.0))
    p = np.where(np.isinf(tstat), 0.0, 2 * stats.t.sf(tstat, dofs))
    p = np.where((ses == 0) & (means == 0), 1.0, p)
    half = stats.t.ppf(1 - alphas / 2, dofs) * ses
    return p.tolist(), [[float(m - h), float(m + h)] for m, h in zip(means, half)]


def one_sample_t_p(values: list[float], direction: str) -> float:
    """One-sided p of a one-sample t-test of mean 0: the figure ``scipy.stats.ttest_1samp(values, 0,
    alternative=direction).pvalue`` gives (tested equal), computed directly: scipy's wrapper costs ~0.5 ms a call,
    which the calibration's Monte Carlo of the verdicts' rule (``suite.gate.calibration``) pays tens of thousands
    of times."""
    from scipy import special

    n = len(values)
    t = statistics.fmean(values) / (statistics.stdev(values) / math.sqrt(n))
    return float(special.stdtr(n - 1, t if direction == "less" else -t))


def known_noise_p(mean: float, se: float, df: float | None, direction: str) -> float:
    """One-sided p of ``mean`` against 0 when its standard error ``se`` comes from noise measured elsewhere (a
    calibration of ``df`` + 1 seeds, independent of this comparison): Student's t with that calibration's degrees
    of freedom (exact when the noise is normal), the normal distribution when ``df`` is None."""
    from scipy import special

    t = mean / se
    t = t if direction == "less" else -t
    if df is None:
        return float(special.ndtr(t))
    return float(special.stdtr(df, t))


def t_quantile(p: float, df: float | None) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (normal when None)."""
    from scipy import special

    return float(special.ndtri(p) if df is None else special.stdtrit(df, p))
