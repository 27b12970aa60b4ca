"""The GPU profile's wiring (run on the tiny model on CPU), sharding, per-worker GPUs, MFU arithmetic."""

import dataclasses

import pytest

from suite.engine import run_case, train_flops_per_token
from suite.methods import get_method
from suite.profiles import cases, get_profile
from suite.results import Params
from suite.session import BenchSession, Options, device_for_worker, parse_shard
from suite.errors import SuiteError


def test_paper_profile_resolves_published_recipes():
    paper = get_profile("paper")
    full, adapter = cases(paper, tasks=["sst2"])
    assert full.model == adapter.model == "bert-base-uncased"
    assert (full.lr, full.epochs) == (2e-5, 3) and (adapter.lr, adapter.epochs) == (1e-4, 10)
    assert full.seeds == (0, 1, 2) and full.precision == "bf16" and full.train_size is None
    assert full.config()["precision"] == "bf16"
    smoke_full = cases(get_profile("smoke"), tasks=["sst2"])[0]
    assert "precision" not in smoke_full.config()  # fp32 leaves earlier config hashes unchanged


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


def test_flops_per_token():
    full = Params(total=100, trainable=100, backbone=90, head=10, adapter=0)
    adapter = Params(total=102, trainable=12, backbone=90, head=10, adapter=2)
    assert train_flops_per_token(full) == 600           # 6N
    assert train_flops_per_token(adapter) == 4 * 102 + 2 * 12


@pytest.mark.parametrize("worker, visible, expected", [
    ("gw0", ["0", "1", "2", "3"], "0"), ("gw5", ["0", "1", "2", "3"], "1"), ("gw1", ["4", "6"], "6"),
    ("gw1", ["0"], None), (None, ["0", "1"], None),
])
def test_each_xdist_worker_takes_its_own_gpu(worker, visible, expected):
    assert device_for_worker(worker, visible) == expected


def test_shards_partition_the_cases():
    def ids(shard):
        s = BenchSession(Options(profile="smoke", methods="full,seq_bn,lora", shard=shard))
        return [c.key for c in s.cases()]
    every = ids(None)
    parts = [ids((i, 3)) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(every) and all(parts)
    with pytest.raises(SuiteError, match="--shard takes I/N"):
        parse_shard("4/3")
