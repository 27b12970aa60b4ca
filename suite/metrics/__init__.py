"""GLUE metrics through an ``evaluate`` module that ships with the suite and loads by path (works offline).

``evaluate.load("glue", ...)`` would fetch the metric script from the Hub at run time; this one does not.
"""

from __future__ import annotations

import functools
from pathlib import Path

METRIC_PATH = Path(__file__).parent / "glue_metric" / "glue_metric.py"


@functools.lru_cache(maxsize=None)
def load_metric(task_name: str):
    import evaluate

    return evaluate.load(str(METRIC_PATH), task_name)


def compute(task_name: str, predictions, references) -> dict[str, float]:
    """The task's official metrics, in points (0-100)."""
    scores = load_metric(task_name).compute(predictions=predictions, references=references)
    return {k: 100.0 * float(v) for k, v in scores.items()}
