"""The shipped evaluate metric module: known inputs, hand-computed values, and agreement with scipy/sklearn."""

import math
import random

import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from suite.config.tasks import TASKS
from suite.data import metrics


def test_hand_computed_values():
    preds, refs = [1, 1, 0, 0], [1, 0, 0, 0]
    # TP=1 FP=1 TN=2 FN=0: accuracy 3/4; F1 = 2TP/(2TP+FP+FN) = 2/3; MCC = (1*2-1*0)/sqrt(2*1*3*2) = 2/sqrt(12)
    assert metrics.compute("mrpc", preds, refs) == pytest.approx({"f1": 200 / 3, "accuracy": 75.0})
    assert metrics.compute("cola", preds, refs)["matthews_correlation"] == pytest.approx(100 * 2 / math.sqrt(12))
    assert metrics.compute("mnli", [0, 1, 2, 2], [0, 1, 1, 2]) == {"accuracy": 75.0}
    s = metrics.compute("stsb", [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0])
    assert s == pytest.approx({"pearson": 100.0, "spearmanr": 100.0})


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_scipy_and_sklearn(seed):
    rng = random.Random(seed)
    refs = [rng.randrange(2) for _ in range(200)]
    preds = [r if rng.random() < 0.7 else 1 - r for r in refs]
    m = metrics.compute("qqp", preds, refs)
    assert m["f1"] == pytest.approx(100 * f1_score(refs, preds))
    assert m["accuracy"] == pytest.approx(100 * accuracy_score(refs, preds))
    assert (metrics.compute("cola", preds, refs)["matthews_correlation"]
            == pytest.approx(100 * matthews_corrcoef(refs, preds)))
    x = [rng.uniform(0, 5) for _ in range(100)]
    y = [v + rng.gauss(0, 1) for v in x]
    s = metrics.compute("stsb", x, y)
    assert s["pearson"] == pytest.approx(100 * pearsonr(x, y)[0], rel=1e-5)
    assert s["spearmanr"] == pytest.approx(100 * spearmanr(x, y)[0], rel=1e-5)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_reports_its_official_metrics(task):
    t = TASKS[task]
    refs = [0.5, 1.5, 3.0, 4.5] if t.is_regression else [0, 1, 1, 0]
    preds = [0.7, 1.0, 3.5, 4.0] if t.is_regression else [0, 1, 0, 0]
    assert set(metrics.compute(task, preds, refs)) == set(t.metrics)
