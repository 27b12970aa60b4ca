"""One run (suite/engine/run.py): batching, the finiteness check, what a run records, determinism, pair and
regression tasks, per-run peak memory, the paper profile's code path on the tiny model, and DDP on CPU."""

import dataclasses
import math

import pytest
import torch
from helpers import tiny_case

from suite.config.profiles import cases, get_profile
from suite.engine.run import NonFiniteLoss, _check_finite, length_grouped_batches, run_case


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


def test_paper_profile_runs_end_to_end_on_the_tiny_model(tmp_path):
    """The first GPU run must not be the first run: same code path, tiny model, small data, bf16 falls back on CPU."""
    d = tmp_path / "SST-2"
    d.mkdir()
    rows = "".join(f"a {'great' if i % 2 else 'awful'} film {i}\t{i % 2}\n" for i in range(48))
    (d / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (d / "dev.tsv").write_text("sentence\tlabel\n" + rows)
    paper = dataclasses.replace(get_profile("paper"), epochs=1, adapter_epochs=2)
    for case in cases(paper, tasks=["sst2"], model="tiny", glue_dir=tmp_path):
        r = run_case(case)
        assert r.ok and r.metric().n == 3, r.error
        assert r.runs[0].steps == case.epochs * 2  # 48 rows / batch 32 -> 2 steps per epoch
        assert r.config["precision"] == "bf16" and r.runs[0].mfu is None  # no MFU on CPU


@pytest.mark.e2e
def test_one_case_across_two_processes_with_ddp_on_cpu(tmp_path):
    """The multi-GPU path (accelerate DDP), run for real on CPU: 2 processes, gloo backend, via torchrun. The tiny
    model: what is tested is the wiring (batches split across ranks, one report), not learning; its case is
    degenerate (exit 1), by design."""
    import json
    import subprocess
    import sys

    from helpers import ROOT, clean_env

    out = tmp_path / "ddp.json"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "suite", "run", "--profile", "unit", "--model", "tiny", "--tasks", "sst2",
                           "--methods", "full",
                           "--results-json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**clean_env(), "HF_HUB_OFFLINE": "1", "GLUE_BENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 1 and "degenerate" in proc.stdout, proc.stdout + proc.stderr
    [case] = json.loads(out.read_text())["cases"]
    # unit: 400 rows / batch 16 = 25 batches per epoch, 3 epochs; each rank takes 12 per epoch
    assert case["runs"][0]["steps"] == 36 and case["runs"][0]["status"] == "ok"
    assert proc.stdout.count("glue-adapter-bench: profile unit") == 1  # only the main process reports
