"""Change points in a short series of run means: E-divisive with a permutation test (Matteson & James 2014).

This is the algorithm of MongoDB's ``signal-processing-algorithms`` (``e_divisive``) and of Apache Otava's
analysis, written out here because neither library can be installed beside this project: signal-processing-
algorithms 2.1.6 requires numpy < 2 and setuptools < 71 (and Python < 3.12), Apache Otava 0.8.0 pins
numpy == 2.2.0.* and scipy < 1.17 and pulls in BigQuery, Postgres and Slack clients; this project runs on
numpy 2.x / scipy 1.17. The port keeps their statistic and search:

- distances |x_i - x_j| between run means; for a split at tau into X = x[:tau] and Y = x[tau:],
  E = 2 mean|X - Y| - mean|X - X'| - mean|Y - Y'| (energy distance) and the test statistic
  T = tau (n - tau) / n * E; the candidate is argmax_tau T;
- significance by permutation: shuffle the runs within every current segment, take the largest T over all
  segments, and count how often it reaches the candidate's; p = (count + 1) / (permutations + 1) (the +1 makes
  the test exact; signal-processing-algorithms omits it, which makes it slightly anti-conservative);
- bisection: while the best candidate over all segments is significant, split there and search again.

A known limit of this binary segmentation: a dip that recovers (a regression that was later fixed) is one
split that explains only half the difference, and is found only with many runs on each side; a staircase
(two drops) is found. The drift check still sees a dip.

The permutations come from a seeded generator, so the same history always gives the same change points.
Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_P = 0.01          # significance level of each split
PERMUTATIONS = 499    # p-value resolution 1/500
MIN_SIZE = 1          # runs on each side of a split, at least (1, as signal-processing-algorithms)
MIN_POINTS = 4        # shorter series have no change points


@dataclass(frozen=True)
class Split:
    index: int          # first position after the change (0-based into the series)
    p_value: float
    statistic: float


def _t_stats(d: np.ndarray) -> np.ndarray:
    """T(tau) for tau = 0..n-1 of distance matrices d (..., n, n); T(0) = 0."""
    n = d.shape[-1]
    s = d.cumsum(-1).cumsum(-2)
    total = s[..., -1, -1]
    tau = np.arange(1, n)
    m = n - tau
    within_x = s[..., tau - 1, tau - 1]                 # sum over i, j < tau (both orders)
    cross = s[..., tau - 1, n - 1] - within_x           # sum over i < tau <= j
    within_y = total[..., None] - within_x - 2 * cross
    e = 2 * cross / (tau * m) - within_x / tau ** 2 - within_y / m ** 2
    t = tau * m / n * e
    return np.concatenate([np.zeros(t.shape[:-1] + (1,)), t], axis=-1)


def _masked(t: np.ndarray, min_size: int) -> np.ndarray:
    """T with the splits that leave fewer than ``min_size`` runs on a side removed."""
    t = t.copy()
    t[..., :min_size] = -np.inf
    t[..., t.shape[-1] - min_size + 1:] = -np.inf
    return t


def _best(d: np.ndarray, bounds: list[tuple[int, int]], min_size: int) -> tuple[int, float]:
    best = (0, -np.inf)
    for a, b in bounds:
        if b - a < 2 * min_size:
            continue
        t = _masked(_t_stats(d[a:b, a:b]), min_size)
        i = int(np.argmax(t))
        if t[i] > best[1]:
            best = (a + i, float(t[i]))
    return best


def _permuted_max(d: np.ndarray, bounds: list[tuple[int, int]], permutations: int, rng, min_size: int) -> np.ndarray:
    """The largest T over all segments, for each of ``permutations`` shufflings within segments."""
    out = np.full(permutations, -np.inf)
    for a, b in bounds:
        k = b - a
        if k < 2 * min_size:
            continue
        idx = np.argsort(rng.random((permutations, k)), axis=1)
        sub = d[a:b, a:b]
        shuffled = sub[idx[:, :, None], idx[:, None, :]]
        out = np.maximum(out, _masked(_t_stats(shuffled), min_size).max(axis=1))
    return out


def e_divisive(values, *, max_p: float = MAX_P, permutations: int = PERMUTATIONS, min_size: int = MIN_SIZE,
               seed: int = 0) -> list[Split]:
    """Significant change points of ``values`` in the order found, each with its permutation p-value."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) < MIN_POINTS or not np.all(np.isfinite(x)):
        return []
    d = np.abs(x[:, None] - x[None, :])
    rng = np.random.default_rng(seed)
    found: list[Split] = []
    while True:
        cuts = [0, *sorted(s.index for s in found), len(x)]
        bounds = list(zip(cuts[:-1], cuts[1:]))
        index, stat = _best(d, bounds, min_size)
        if not np.isfinite(stat) or stat <= 0:
            return found
        exceed = int(np.sum(_permuted_max(d, bounds, permutations, rng, min_size) >= stat - 1e-12))
        p = (exceed + 1) / (permutations + 1)
        if p > max_p:
            return found
        found.append(Split(index, p, stat))
