"""The tokenized-data cache trusts content, not timestamps, and never trains on a damaged entry."""

from __future__ import annotations

import json
import os

import pytest
from helpers import tiny_case

from suite.data import token_cache as cache
from suite.engine.run import prepare_data, run_case

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


def fresh_run(case):
    prepare_data.cache_clear()  # a new process, as far as the in-memory cache is concerned
    return run_case(case)


def entries(tmp_path):
    return [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]


def test_a_file_edited_with_size_and_mtime_kept_is_a_cache_miss_with_a_new_fingerprint(glue):
    case = glue_case(glue)
    first = fresh_run(case)
    assert first.data_cache == "miss" and fresh_run(case).data_cache == "hit"
    train = glue / "SST-2" / "train.tsv"
    st = train.stat()
    text = train.read_text()
    edited = text.replace("number 0\t0", "number 0\t1").replace("number 1\t1", "number 1\t0")  # two labels swapped
    assert edited != text and len(edited) == len(text)
    train.write_text(edited)
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert train.stat().st_size == st.st_size and train.stat().st_mtime_ns == st.st_mtime_ns
    again = fresh_run(case)
    assert again.data_cache == "miss"
    assert again.data_fingerprint != first.data_fingerprint
    assert again.runs[0].final_loss != first.runs[0].final_loss  # trained on the edited rows


def arrow_files(tmp_path):
    [entry] = entries(tmp_path)
    files = sorted((entry / "data").rglob("*.arrow"))
    assert files
    return entry, files


@pytest.mark.parametrize("damage", ["flip-bytes-same-size", "truncate"])
def test_a_damaged_entry_is_detected_rebuilt_and_replaced(glue, tmp_path, damage):
    case = glue_case(glue)
    first = fresh_run(case)
    entry, files = arrow_files(tmp_path)
    target = max(files, key=lambda p: p.stat().st_size)  # the training split
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    else:  # token ids changed in place: Arrow would still load it, and the run would train on other tokens
        mid = len(data) // 2
        data[mid:mid + 8] = bytes(b ^ 0x5A for b in data[mid:mid + 8])
        target.write_bytes(bytes(data))
        assert target.stat().st_size == len(data)
    again = fresh_run(case)
    assert again.data_cache == "miss"  # detected, not trusted
    assert again.data_fingerprint == first.data_fingerprint
    assert again.runs[0].metrics == first.runs[0].metrics and again.runs[0].final_loss == first.runs[0].final_loss
    # replaced: the entry now verifies and the next run reads it
    [replaced] = entries(tmp_path)
    assert replaced.name == entry.name and cache.verified(replaced)
    third = fresh_run(case)
    assert third.data_cache == "hit" and third.runs[0].final_loss == first.runs[0].final_loss


def test_an_entry_without_checksums_or_with_edited_metadata_is_not_trusted(glue, tmp_path):
    case = glue_case(glue)
    first = fresh_run(case)
    [entry] = entries(tmp_path)
    meta = json.loads((entry / "meta.json").read_text())
    (entry / "meta.json").write_text(json.dumps({**meta, "fingerprint": "0" * 16}))
    again = fresh_run(case)
    assert again.data_cache == "miss" and again.data_fingerprint == first.data_fingerprint
    (entries(tmp_path)[0] / cache.CHECKSUMS).unlink()
    assert fresh_run(case).data_cache == "miss"
    assert fresh_run(case).data_cache == "hit"


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
