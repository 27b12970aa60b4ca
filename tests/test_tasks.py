"""The nine GLUE tasks (suite/config/tasks.py): each one's contract with the metric module, names, splits."""

import pytest

from suite.config.tasks import TASKS, get_task
from suite.errors import SuiteError


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_contract(name):
    from suite.data.metrics.glue_metric.glue_metric import METRICS_BY_TASK

    t = get_task(name)
    assert t.num_labels >= 2 or (t.is_regression and t.num_labels == 1)
    assert t.metrics == METRICS_BY_TASK[name]
    assert len(t.hub_text_columns) == len(t.tsv_text_columns) in (1, 2)
    assert t.eval_splits and len({s.alias for s in t.eval_splits}) == len(t.eval_splits)
    assert t.primary_metric in t.metrics


def test_unknown_task_suggests_closest():
    with pytest.raises(SuiteError) as e:
        get_task("mnlii")
    assert "Unknown task 'mnlii'" in str(e.value) and "Did you mean: mnli" in str(e.value)
    assert "sst2" in str(e.value)


def test_mnli_reports_matched_and_mismatched():
    t = get_task("mnli")
    assert [t.metric_key("accuracy", s) for s in t.eval_splits] == ["accuracy_m", "accuracy_mm"]
    assert t.primary_key == "accuracy_m"
