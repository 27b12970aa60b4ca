"""One-off cross-check of suite/store/changepoints.py against MongoDB signal-processing-algorithms 2.1.6.

Run in a throwaway venv (that library needs numpy < 2, so it cannot live beside this project):
    python3.11 -m venv /tmp/spa && /tmp/spa/bin/pip install signal-processing-algorithms
    PYTHONPATH=. /tmp/spa/bin/python docs/changepoints_crosscheck.py
Printed on 300 random series (half with a planted step): max |T diff| 7.5e-13, same change points 296 / 300
(the rest differ by permutation draws and the +1 in our p-value).
"""
import numpy as np
from signal_processing_algorithms.energy_statistics import energy_statistics as es

from suite.store.changepoints import _t_stats, e_divisive

rng = np.random.default_rng(0)
maxdiff=0; agree=0; total=0
for trial in range(300):
    n = int(rng.integers(4, 30))
    x = rng.normal(0,1,n)
    if trial % 2: x[n//2:] += rng.uniform(0,4)
    d = np.abs(x[:,None]-x[None,:])
    a = es._calculate_t_stats(d, use_c_if_possible=False); b = _t_stats(d)
    maxdiff = max(maxdiff, np.max(np.abs(a-b)))
    np.random.seed(trial)
    theirs = sorted(es.e_divisive(x, pvalue=0.01, permutations=499))
    mine = sorted(s.index for s in e_divisive(x, seed=trial))
    total += 1; agree += theirs == mine
print("max |T diff|", maxdiff, "same change points", agree, "/", total)
