"""Shared statistics (suite/gate/statistics.py): the one-sided t-test the gate runs thousands of times in the
calibration, and Holm's step-down correction that diagnose uses."""

import numpy as np
import pytest
from scipy import stats

from suite.gate.statistics import holm, one_sample_t_p


def test_fast_one_sample_t_equals_scipy():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        for _ in range(20):
            d = list(rng.normal(-0.3, 1.0, n))
            for direction in ("less", "greater"):
                assert one_sample_t_p(d, direction) == pytest.approx(
                    stats.ttest_1samp(d, 0.0, alternative=direction).pvalue, rel=1e-9, abs=1e-15)


def test_holm_adjusts_the_p_values_and_gives_the_step_down_levels():
    """(Its levels agreeing with its rejections, through diagnose's corrected intervals: tests/test_diagnose.py.)"""
    adjusted, levels = holm([0.01, 0.04, 0.03, 0.005], 0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert levels == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])
