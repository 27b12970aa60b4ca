"""The tokenized-data cache (suite/data/token_cache.py) and the data preparation that goes through it
(suite/engine/run.py: prepare_data, prepare_case). The cache trusts content, not timestamps, and never hands out a
damaged entry. Nothing trains here: what a run trains on is the PreparedData that prepare_case returns (its token
ids, labels and fingerprint); run_case's report of a hit or a miss is checked with the training stubbed out."""

from __future__ import annotations

import json
import os

import pytest
from helpers import tiny_case

from suite.config.tasks import get_task
from suite.data import token_cache as cache
from suite.engine import run as engine
from suite.engine.results import RunResult
from suite.engine.run import prepare_case, prepare_data

TRAIN = "sentence\tlabel\n" + "".join(f"a {'good' if i % 2 else 'bad'} film number {i}\t{i % 2}\n" for i in range(48))
DEV = "sentence\tlabel\n" + "".join(f"{'nice' if i % 2 else 'awful'} movie {i}\t{i % 2}\n" for i in range(24))


@pytest.fixture
def glue(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUE_BENCH_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "glue" / "SST-2"
    d.mkdir(parents=True)
    (d / "train.tsv").write_text(TRAIN)
    (d / "dev.tsv").write_text(DEV)
    prepare_data.cache_clear()
    yield tmp_path / "glue"
    prepare_data.cache_clear()


def glue_case(glue_dir):
    return tiny_case(method="full", data="glue", glue_dir=str(glue_dir), train_size=None, eval_size=None)


def fresh_prepare(case):
    prepare_data.cache_clear()  # a new process, as far as the in-memory cache is concerned
    return prepare_case(case)


def entries(tmp_path):
    return [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]


def entry_key(case):
    return cache.key(get_task(case.task), case.data, case.glue_dir, case.train_size, case.eval_size, case.model,
                     case.max_length)


def trained_labels(prepared):
    """The label each training row is trained with (the encoded side), by the row's text."""
    return dict(zip(prepared.data.train["text_a"], prepared.train.labels))


def same_data(a, b):
    """The same rows, token ids and labels: a run on either trains and evaluates on the same data."""
    return (a.train == b.train and a.evals == b.evals and a.pad_id == b.pad_id
            and list(a.data.train["text_a"]) == list(b.data.train["text_a"]))


def test_a_file_edited_with_size_and_mtime_kept_is_a_cache_miss_with_a_new_fingerprint(glue, tmp_path):
    case = glue_case(glue)
    first = fresh_prepare(case)
    first_key = entry_key(case)
    assert not first.from_cache
    hit = fresh_prepare(case)
    assert hit.from_cache and same_data(hit, first)
    train = glue / "SST-2" / "train.tsv"
    st = train.stat()
    text = train.read_text()
    edited = text.replace("number 0\t0", "number 0\t1").replace("number 1\t1", "number 1\t0")  # two labels swapped
    assert edited != text and len(edited) == len(text)
    train.write_text(edited)
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert train.stat().st_size == st.st_size and train.stat().st_mtime_ns == st.st_mtime_ns
    assert entry_key(case) != first_key  # the key hashes the file's content
    again = fresh_prepare(case)
    assert not again.from_cache
    assert again.data.fingerprint != first.data.fingerprint
    assert sorted(p.name for p in entries(tmp_path)) == sorted([first_key, entry_key(case)])
    # a run would train on the edited rows
    before, after = trained_labels(first), trained_labels(again)
    assert (before["a bad film number 0"], before["a good film number 1"]) == (0, 1)
    assert (after["a bad film number 0"], after["a good film number 1"]) == (1, 0)
    assert {t: v for t, v in after.items() if "number 0" not in t and "number 1" not in t} == {
        t: v for t, v in before.items() if "number 0" not in t and "number 1" not in t}


def arrow_files(tmp_path):
    [entry] = entries(tmp_path)
    files = sorted((entry / "data").rglob("*.arrow"))
    assert files
    return entry, files


@pytest.mark.parametrize("damage", ["flip-bytes-same-size", "truncate"])
def test_a_damaged_entry_is_detected_rebuilt_and_replaced(glue, tmp_path, damage):
    case = glue_case(glue)
    first = fresh_prepare(case)
    entry, files = arrow_files(tmp_path)
    assert entry.name == entry_key(case) and cache.verified(entry)
    target = max(files, key=lambda p: p.stat().st_size)  # the training split
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    else:  # token ids changed in place: Arrow would still load it, and the run would train on other tokens
        mid = len(data) // 2
        data[mid:mid + 8] = bytes(b ^ 0x5A for b in data[mid:mid + 8])
        target.write_bytes(bytes(data))
        assert target.stat().st_size == len(data)
    assert not cache.verified(entry)
    again = fresh_prepare(case)
    assert not again.from_cache  # detected, not trusted
    assert again.data.fingerprint == first.data.fingerprint
    assert same_data(again, first)  # rebuilt from the files: the tokens a run trains on are the original ones
    # replaced: the entry now verifies and the next run reads it
    [replaced] = entries(tmp_path)
    assert replaced.name == entry.name and cache.verified(replaced)
    third = fresh_prepare(case)
    assert third.from_cache and same_data(third, first)


def test_an_entry_without_checksums_or_with_edited_metadata_is_not_trusted(glue, tmp_path):
    case = glue_case(glue)
    first = fresh_prepare(case)
    [entry] = entries(tmp_path)
    meta = json.loads((entry / "meta.json").read_text())
    (entry / "meta.json").write_text(json.dumps({**meta, "fingerprint": "0" * 16}))
    assert not cache.verified(entry)
    again = fresh_prepare(case)
    assert not again.from_cache and again.data.fingerprint == first.data.fingerprint
    (entries(tmp_path)[0] / cache.CHECKSUMS).unlink()
    assert not cache.verified(entries(tmp_path)[0])
    assert not fresh_prepare(case).from_cache
    hit = fresh_prepare(case)
    assert hit.from_cache and hit.data.fingerprint == first.data.fingerprint and same_data(hit, first)


def test_a_run_reports_a_hit_or_a_miss_and_the_data_fingerprint(glue, monkeypatch):
    """run_case's data_cache, data_fingerprint and data_origin come from the prepared data (no training: each
    seed's run is stubbed)."""
    def run_seed(case, seed, prepared=None, log=None, observe=None, show_progress=False):
        return RunResult(task=case.task, method=case.method, seed=seed, metrics={"accuracy": 50.0})

    monkeypatch.setattr(engine, "run_seed", run_seed)
    case = glue_case(glue)
    prepare_data.cache_clear()
    first = engine.run_case(case)
    prepare_data.cache_clear()
    second = engine.run_case(case)
    assert (first.data_cache, second.data_cache) == ("miss", "hit")
    assert first.data_fingerprint == second.data_fingerprint == prepare_case(case).data.fingerprint != ""
    assert first.data_origin == second.data_origin == f"glue-dir:{glue}"


def test_save_load_verified_and_discard(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("GLUE_BENCH_CACHE", str(tmp_path / "cache"))
    split = {"text_a": ["good", "bad"], "label": [1, 0], "input_ids": [[101, 7, 102], [101, 8, 102]]}
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(split),
                               "eval_": datasets.Dataset.from_dict(split)})
    meta = {"evals": [""], "origin": "test", "fingerprint": "f" * 16}
    assert cache.load("k1") is None  # nothing stored yet
    cache.save("k1", dd, meta)
    folder = tmp_path / "cache" / "k1"
    assert cache.verified(folder) and set(json.loads((folder / cache.CHECKSUMS).read_text())) >= {"meta.json"}
    loaded, loaded_meta = cache.load("k1")
    assert loaded_meta == meta and set(loaded) == {"train", "eval_"}
    assert list(loaded["train"]["input_ids"]) == split["input_ids"]
    cache.discard("k1")
    assert not folder.exists() and cache.load("k1") is None
    assert list((tmp_path / "cache").iterdir()) == []  # nothing left aside either
    # an entry that holds other splits than its metadata names is discarded on load
    cache.save("k2", dd, {**meta, "evals": ["m", "mm"]})
    assert cache.verified(tmp_path / "cache" / "k2")
    assert cache.load("k2") is None and not (tmp_path / "cache" / "k2").exists()
    monkeypatch.setenv("GLUE_BENCH_CACHE", "off")
    cache.save("k3", dd, meta)
    assert cache.root() is None and cache.load("k3") is None
    assert not (tmp_path / "cache" / "k3").exists()


def test_tokenized_data_is_cached_on_disk(tmp_path, monkeypatch):
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
    monkeypatch.setenv("GLUE_BENCH_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "glue" / "SST-2"
    d.mkdir(parents=True)
    (d / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    (d / "dev.tsv").write_text("sentence\tlabel\nfine\t1\nawful\t0\n")  # two classes: a one-class dev set is refused
    args = ("sst2", "glue", str(tmp_path / "glue"), None, None, "tiny", 32)
    prepare_data.cache_clear()
    prepare_data(*args)
    (d / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\nugly\t0\n")
    prepare_data.cache_clear()
    again = prepare_data(*args)
    assert not again.from_cache and len(again.train) == 3
    prepare_data.cache_clear()
