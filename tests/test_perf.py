"""The GPU profile's wiring (run on the tiny model on CPU), sharding, per-worker GPUs."""

import dataclasses

import pytest

from suite.config.options import Options, parse_shard
from suite.config.profiles import cases, get_profile
from suite.engine.run import run_case
from suite.errors import SuiteError
from suite.session.bench import BenchSession
from suite.session.selection import device_for_worker


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


def test_tokenized_data_is_cached_on_disk(tmp_path, monkeypatch):
    from suite.engine.run import prepare_data

    monkeypatch.setenv("GLUE_BENCH_CACHE", str(tmp_path))
    args = ("mnli", "synthetic", None, 200, 50, "tiny", 32)
    prepare_data.cache_clear()
    first = prepare_data(*args)
    prepare_data.cache_clear()  # a new process, as far as the in-memory cache is concerned
    second = prepare_data(*args)
    assert not first.from_cache and second.from_cache
    assert second.train == first.train and second.evals == first.evals
    assert (second.data.fingerprint == first.data.fingerprint
            and list(second.data.train["text_b"]) == list(first.data.train["text_b"]))
    prepare_data.cache_clear()
    other = prepare_data("mnli", "synthetic", None, 200, 50, "tiny", 16)  # another max length: another entry
    assert not other.from_cache
    monkeypatch.setenv("GLUE_BENCH_CACHE", "off")
    prepare_data.cache_clear()
    assert not prepare_data(*args).from_cache
    prepare_data.cache_clear()


def test_changed_glue_file_invalidates_the_cache(tmp_path, monkeypatch):
    from suite.engine.run import prepare_data

    monkeypatch.setenv("GLUE_BENCH_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "glue" / "SST-2"
    d.mkdir(parents=True)
    (d / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    (d / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    args = ("sst2", "glue", str(tmp_path / "glue"), None, None, "tiny", 32)
    prepare_data.cache_clear()
    prepare_data(*args)
    (d / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\nugly\t0\n")
    prepare_data.cache_clear()
    again = prepare_data(*args)
    assert not again.from_cache and len(again.train) == 3
    prepare_data.cache_clear()


@pytest.mark.e2e
def test_one_case_across_two_processes_with_ddp_on_cpu(tmp_path):
    """The multi-GPU path (accelerate DDP), run for real on CPU: 2 processes, gloo backend, via torchrun."""
    import json
    import subprocess
    import sys

    from helpers import ROOT, clean_env

    out = tmp_path / "ddp.json"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "suite", "run", "--profile", "unit", "--tasks", "sst2", "--methods", "full",
                           "--results-json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**clean_env(), "HF_HUB_OFFLINE": "1", "GLUE_BENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [case] = json.loads(out.read_text())["cases"]
    # unit: 400 rows / batch 16 = 25 batches per epoch, 3 epochs; each rank takes 12 per epoch
    assert case["runs"][0]["steps"] == 36 and case["runs"][0]["status"] == "ok"
    assert proc.stdout.count("glue-adapter-bench: profile unit") == 1  # only the main process reports


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
    """group_by_length also reorders predict(): the labels scored against are predict()'s label_ids, a permutation
    of the dataset's labels in another order, not the dataset's own order."""
    from suite.tools import perf

    seen = []
    real_compute = perf.compute
    monkeypatch.setattr(perf, "compute",
                        lambda task, preds, refs: seen.append(list(refs)) or real_compute(task, preds, refs))
    case = perf._case("full", model="tiny", data="synthetic", glue_dir=None, train_size=64, eval_size=48,
                      max_length=32, epochs=1, batch_size=16, eval_batch_size=16, lr=1e-3)
    perf.trainer_side(case, "trainer-tuned")
    dataset_labels = list(perf._prepared(case).data.evals[""]["label"])
    [scored] = seen
    assert sorted(scored) == sorted(dataset_labels) and scored != dataset_labels


@pytest.mark.parametrize("argv, needle", [
    (["--batch-size", "0"], "--batch-size must be a whole number >= 1"),
    (["--epochs", "-1"], "--epochs must be a whole number >= 1"),
    (["--max-length", "0"], "--max-length must be a whole number >= 8"),
    (["--train-size", "x"], "--train-size must be a whole number >= 1"),
    (["--ablate", "--bf16"], "--ablate already measures bf16"),
])
def test_perf_size_mistakes_are_one_line_before_any_training(argv, needle, capsys):
    from suite.__main__ import main

    assert main(["perf", "--model", "tiny", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
