"""GLUE metrics through an ``evaluate`` module that ships with the suite and loads by path (works offline).

``evaluate.load("glue", ...)`` would fetch the metric script from the Hub at run time; this one does not.
"""

from __future__ import annotations

import functools
from pathlib import Path

METRIC_PATH = Path(__file__).parent / "glue_metric" / "glue_metric.py"


@functools.cache
def load_metric(task_name: str):
    import evaluate

    return evaluate.load(str(METRIC_PATH), task_name)


def compute(task_name: str, predictions, references) -> dict[str, float]:
    """The task's official metrics, in points (0-100)."""
    scores = load_metric(task_name).compute(predictions=predictions, references=references)
    return {k: 100.0 * float(v) for k, v in scores.items()}


def trivial_scores(task, references) -> dict[str, float]:
    """The best score a model that ignores its input can get on these references: every constant prediction
    (each class; for regression, any constant) scored with the task's own metrics, the best per metric.

    A constant has no correlation with anything (Pearson/Spearman are undefined for it, MCC is 0), so for the
    correlation metrics the trivial score is 0. This is the floor a run must beat: a number at or below it says
    the model learned nothing, whatever a baseline says.
    """
    import math

    refs = list(references)
    if task.is_regression:
        constants = [float(sum(refs) / len(refs))] if refs else [0.0]
    else:
        constants = list(range(task.num_labels))
    best: dict[str, float] = {}
    for c in constants:
        preds = [c] * len(refs)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: scipy warns that the correlation is undefined
            scores = compute(task.name, preds, refs) if refs else {}
        for name, value in scores.items():
            value = 0.0 if not math.isfinite(value) else value
            best[name] = max(best.get(name, -math.inf), value)
    return best
