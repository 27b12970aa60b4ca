"""Planted regressions on real GLUE data, through the command a developer runs (``pytest benchmarks -k mnli
--bench-profile quick --strict-baselines``), against the quick profile's stored baselines.

Marked ``realdata``: each trains a quick-profile case for minutes, so ``make test`` runs them in its real-data step
(after the unit tests, only where ../shared/data/glue_data is present), not among the unit tests."""

import pytest
from helpers import GLUE_DATA, run_pytest

pytestmark = [pytest.mark.e2e, pytest.mark.realdata,
              pytest.mark.skipif(not GLUE_DATA.is_dir(), reason="../shared/data/glue_data not present")]


def test_adapters_that_stop_learning_fail_the_quick_mnli_gate(tmp_path):
    """The adapter's weights get no gradient (tests/plant_faults.py): only the head learns, MNLI falls towards the
    majority class, and the strict quick MNLI run fails on the regression, naming the case and both dev sets'
    metric it judges."""
    code, out = run_pytest("--bench-profile", "quick", "--glue-dir", str(GLUE_DATA), "-k", "mnli and seq_bn",
                           "--strict-baselines", "--no-history", "--results-json", str(tmp_path / "r.json"),
                           "-p", "tests.plant_faults", env={"GLUE_BENCH_PLANT": "frozen-adapters"}, timeout=2400)
    assert code == 1, out
    assert "1 failed" in out and "mnli/seq_bn" in out and "regression" in out, out
