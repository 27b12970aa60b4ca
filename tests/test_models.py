"""The model and its classification head (suite/config/models.py): the declared pooling option."""

import dataclasses

import pytest
import torch
from helpers import tiny_case

from suite.config.models import load_model
from suite.config.profiles import Profile
from suite.config.tasks import get_task
from suite.engine.run import run_case
from suite.errors import SuiteError


def test_pooling_is_part_of_the_config_hash_and_absent_at_its_default():
    """Adding the option changed no existing hash (stored baselines still match); mean pooling is another config."""
    cls = tiny_case()
    mean = dataclasses.replace(cls, pooling="mean")
    assert "pooling" not in cls.config() and mean.config()["pooling"] == "mean"
    assert cls.config_hash != mean.config_hash


def _logits(model, ids, mask):
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def test_mean_pooling_reads_the_real_tokens_only():
    """What a padded position holds does not move the mean-pooled logits; it is the mean, not the first token."""
    torch.manual_seed(0)
    model = load_model("tiny", get_task("sst2"), pooling="mean")
    ids = torch.randint(5, 100, (2, 12))
    mask = torch.ones_like(ids)
    mask[:, 8:] = 0
    other = ids.clone()
    other[:, 8:] = 7  # different padding content
    torch.testing.assert_close(_logits(model, ids, mask), _logits(model, other, mask))
    changed_word = ids.clone()
    changed_word[:, 5] = 3  # a real token after the first one: the mean moves, the first token's state need not
    assert not torch.allclose(_logits(model, ids, mask), _logits(model, changed_word, mask))


def test_a_mean_pooled_case_trains_and_evaluates():
    result = run_case(tiny_case(method="seq_bn", pooling="mean"))
    assert result.ok and result.runs[0].metrics


@pytest.mark.parametrize("build", [lambda: load_model("tiny", get_task("sst2"), pooling="max"),
                                   lambda: Profile(name="x", description="x", task_pooling={"rte": "max"})])
def test_an_unknown_pooling_is_one_clear_error(build):
    with pytest.raises(SuiteError, match="Unknown pooling 'max'; use one of: cls, mean"):
        build()
