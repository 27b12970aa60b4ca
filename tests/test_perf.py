"""perf (suite/tools/perf.py): the engine against HF Trainer (default and tuned) and the ablation of the speed
options, wired on the tiny model (the numbers themselves come from `python -m suite perf`, never asserted)."""


import pytest

from suite.errors import SuiteError
from suite.tools.perf import ablate, render_ablation


def test_perf_benchmark_runs_both_sides_and_prints_ratios():
    """Wiring only (tiny model, 64 rows): the numbers themselves come from `python -m suite perf`, never asserted."""
    from suite.tools import perf

    rows = perf.compare(model="tiny", train_size=64, eval_size=48, max_length=32, batch_size=16, warmup=False)
    sides = ["engine", "trainer-default", "trainer-tuned"]
    assert [(r.method, r.side) for r in rows] == [(m, s) for m in ("full", "seq_bn") for s in sides]
    assert all(r.train_samples_per_s > 0 and r.eval_samples_per_s > 0 and 0 <= r.accuracy <= 100 for r in rows)
    assert all(0 < r.real_tokens_per_s <= r.padded_tokens_per_s for r in rows)
    by = {(r.method, r.side): r for r in rows}
    # length-grouped batches pad less than random ones (token counts, not times: the ratio of the two per-second
    # figures of one side is a ratio of counts, independent of the machine's load)

    def pad_ratio(side):
        return by[("full", side)].padded_tokens_per_s / by[("full", side)].real_tokens_per_s
    assert pad_ratio("trainer-tuned") < pad_ratio("trainer-default")
    text = perf.render(rows)
    assert "engine / Trainer tuned" in text and "x, " in text and "seq_bn / full training speed" in text
    assert all(r.train_samples_per_cpu_s > 0 for r in rows) and "samples/CPU-s" in text


def test_perf_bf16_puts_both_sides_under_autocast(monkeypatch):
    """--bf16: the engine's case carries cpu-bf16 (CPU) and Trainer gets bf16=True: the same precision."""
    from suite.config import speed
    from suite.tools import perf

    monkeypatch.setattr(speed, "cpu_has_bf16", lambda: True)
    seen = {}
    monkeypatch.setattr(perf, "engine_side", lambda case: seen.setdefault("engine", case) and None)
    monkeypatch.setattr(perf, "trainer_side", lambda case, side="trainer-tuned": seen.setdefault(side, case) and None)
    perf.compare(model="tiny", methods=("seq_bn",), warmup=False, bf16=True)
    assert "cpu-bf16" in seen["engine"].speed and "cpu-bf16" in seen["trainer-tuned"].speed
    monkeypatch.setattr(speed, "cpu_has_bf16", lambda: False)
    with pytest.raises(SuiteError, match="cpu-bf16 needs a CPU with native bf16"):
        perf.compare(model="tiny", methods=("seq_bn",), warmup=False, bf16=True)


def test_tuned_trainer_scores_predictions_in_the_order_predict_returns_them(monkeypatch):
    """group_by_length also reorders predict() (transformers >= 4.46): the labels scored against are predict()'s
    label_ids, a permutation of the dataset's labels in another order, not the dataset's own order."""
    from importlib.metadata import version

    import transformers
    from packaging.version import Version

    from suite.tools import perf

    seen, returned = [], []
    real_compute, real_predict = perf.compute, transformers.Trainer.predict
    monkeypatch.setattr(perf, "compute",
                        lambda task, preds, refs: seen.append(list(refs)) or real_compute(task, preds, refs))
    monkeypatch.setattr(transformers.Trainer, "predict",
                        lambda self, *a, **kw: returned.append(out := real_predict(self, *a, **kw)) or out)
    case = perf._case("full", model="tiny", data="synthetic", glue_dir=None, train_size=64, eval_size=48,
                      max_length=32, epochs=1, batch_size=16, eval_batch_size=16, lr=1e-3)
    perf.trainer_side(case, "trainer-tuned")
    dataset_labels = list(perf._prepared(case).data.evals[""]["label"])
    [scored], [output] = seen, returned
    assert scored == list(output.label_ids) and sorted(scored) == sorted(dataset_labels)
    # transformers 4.45 (the oldest supported pair) does not length-group evaluation: predict() keeps the dataset's
    # order there, and the two orders cannot be told apart (huggingface/transformers#33514, in 4.46)
    if Version(version("transformers")) >= Version("4.46"):
        assert scored != dataset_labels


def test_ablation_prints_one_row_per_option_against_the_defaults():
    options = [("defaults", (), "fp32"), ("eager-attention", ("eager-attention",), "fp32"),
               ("foreach-adamw", ("foreach-adamw",), "fp32")]
    rows = ablate(model="tiny", train_size=48, eval_size=32, max_length=32, batch_size=16, methods=("seq_bn",),
                  options=options)
    assert [r.option for r in rows] == ["defaults", "eager-attention", "foreach-adamw"]
    assert all(r.train_samples_per_s > 0 and r.error is None for r in rows)
    table = render_ablation(rows)
    assert "| seq_bn | eager-attention |" in table and "1.00x" in table
