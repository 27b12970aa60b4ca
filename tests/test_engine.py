import math

import pytest
import torch
from helpers import tiny_case

from suite.config.methods import get_method, parse_methods, split_list
from suite.config.models import load_model
from suite.config.tasks import get_task
from suite.engine.run import NonFiniteLoss, _check_finite, length_grouped_batches, run_case
from suite.errors import SuiteError


def test_length_grouped_batches_cover_every_row_once():
    lengths = [(i * 7) % 50 + 1 for i in range(1000)]
    a = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0))
    b = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0))
    c = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(1))
    assert a == b and a != c
    flat = sorted(i for batch in a for i in batch)
    assert flat == list(range(1000))
    # grouping: padding waste is far below that of random batches
    waste = sum(max(lengths[i] for i in bt) * len(bt) - sum(lengths[i] for i in bt) for bt in a)
    assert waste < 0.1 * sum(lengths)


def test_nonfinite_loss_names_the_step():
    losses = [torch.tensor(1.0)] * 30 + [torch.tensor(float("nan"))] + [torch.tensor(1.0)] * 19
    _check_finite(losses[:25], 25)
    with pytest.raises(NonFiniteLoss, match="at step 31"):
        _check_finite(losses, 50)


@pytest.mark.parametrize("method", ["full", "seq_bn"])
def test_tiny_run_records_everything(method):
    r = run_case(tiny_case(method=method))
    assert r.ok, r.error
    run = r.runs[0]
    assert 0 <= run.metrics["accuracy"] <= 100
    assert run.train_samples_per_s > 0 and run.eval_samples_per_s > 0 and run.steps == 4
    assert run.peak_mem_mb > 0 and math.isfinite(run.final_loss)
    p = run.params
    assert p.head > 0 and p.total == p.backbone + p.head + p.adapter
    if method == "full":
        assert p.trainable == p.total and p.adapter == 0
    else:
        assert p.trainable == p.adapter + p.head and 0 < p.trainable_pct < 10


def test_same_seed_same_numbers_other_seed_differs():
    a = run_case(tiny_case(seeds=(0, 1)))
    b = run_case(tiny_case(seeds=(0, 1)))
    assert [r.final_loss for r in a.runs] == [r.final_loss for r in b.runs]
    assert [r.metrics for r in a.runs] == [r.metrics for r in b.runs]
    assert a.runs[0].final_loss != a.runs[1].final_loss
    assert a.metric().n == 2


def test_mnli_pair_task_reports_both_splits():
    r = run_case(tiny_case(task="mnli", method="full"))
    assert set(r.runs[0].metrics) == {"accuracy_m", "accuracy_mm"} and r.primary_metric == "accuracy_m"


def test_exploding_run_fails_with_step_not_crash():
    r = run_case(tiny_case(method="full", lr=1e12, warmup_ratio=0.0))
    assert not r.ok and "training loss became" in r.error and "at step" in r.error


def test_seq_bn_trains_only_adapter_and_head():
    torch.manual_seed(0)
    model = load_model("tiny", get_task("sst2"))
    get_method("seq_bn").apply(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("adapter" in n or n.startswith("heads.") for n in trainable)
    assert any(n.startswith("heads.") for n in trainable)  # a frozen head is a known false deficit


def test_method_strings():
    assert (split_list("full, seq_bn[reduction_factor=4,leave_out=[0,1]]")
            == ["full", "seq_bn[reduction_factor=4,leave_out=[0,1]]"])
    ms = parse_methods("full,seq_bn[reduction_factor=4]")
    assert [m.family for m in ms] == ["full", "adapter"] and ms[1].adapter_config == "seq_bn[reduction_factor=4]"
    with pytest.raises(SuiteError, match="Unknown method 'seqbn'.*Did you mean: seq_bn"):
        get_method("seqbn")
    with pytest.raises(SuiteError, match="Unbalanced brackets"):
        split_list("seq_bn[reduction_factor=4")
    with pytest.raises(SuiteError, match="unexpected keyword"):
        get_method("seq_bn[reduction_factr=4]")


def test_reduction_factor_changes_capacity():
    small = run_case(tiny_case(method="seq_bn[reduction_factor=16]")).params
    big = run_case(tiny_case(method="seq_bn[reduction_factor=2]")).params
    assert big.adapter > small.adapter > 0


def test_stsb_trains_a_regression_head(tmp_path):
    import random

    rng = random.Random(0)
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    for name, n in [("train.tsv", 64), ("dev.tsv", 32)]:
        rows = "".join(f"{i}\tmain\tx\t2012\t{i}\tnone\tnone\ta man {'runs' if i % 2 else 'sits'} .\ta man "
                       f"{rng.choice(['runs', 'sits'])} .\t{rng.uniform(0, 5):.3f}\n" for i in range(n))
        (tmp_path / "STS-B").mkdir(exist_ok=True)
        (tmp_path / "STS-B" / name).write_text(header + rows)
    r = run_case(tiny_case(task="stsb", method="seq_bn", data="glue", train_size=None, eval_size=None,
                           glue_dir=str(tmp_path)))
    assert r.ok, r.error
    assert set(r.runs[0].metrics) == {"pearson", "spearmanr"} and r.primary_metric == "pearson"
    assert r.params.head == 32 * 32 + 32 + 32 * 1 + 1  # 2-layer head with one output


def test_each_run_reports_its_own_peak_memory_and_cpu_time_throughput():
    """Peak RSS is reset per run (Linux), so a small run after a large allocation does not inherit its peak."""
    import sys

    from suite.engine import run as engine

    if not sys.platform.startswith("linux"):
        pytest.skip("per-run peak RSS needs /proc/self/clear_refs")
    big = bytearray(400 * 2**20)  # 400 MiB touched: the process-lifetime peak now includes it
    big[::4096] = b"x" * len(big[::4096])
    lifetime_peak, _ = engine.cpu_peak_mb()
    del big
    r = run_case(tiny_case())
    run = r.runs[0]
    assert run.peak_mem_kind == "process_peak_rss_this_run"
    assert run.peak_mem_mb < lifetime_peak - 200
    assert run.train_samples_per_cpu_s and run.train_samples_per_cpu_s > 0
