"""Baseline files: keys, updates that keep everything else, and a loader that refuses what it cannot trust."""

import json

import pytest
from factories import KEY, make_result

from suite.errors import SuiteError
from suite.gate import baselines as bl


def test_entries_are_keyed_by_task_method_and_model():
    r = make_result()
    assert bl.entry_key(r) == KEY
    other = make_result()
    other.config = {**other.config, "model": "bert-base-uncased"}
    assert bl.entry_key(other) == "sst2/seq_bn@bert-base-uncased"


def test_update_rewrites_only_its_entry_and_keeps_unknown_fields(tmp_path):
    path = tmp_path / "unit.json"
    other = {"mean": 70.0, "metric": "accuracy", "note": "hand-written"}
    bl.write_atomic(path, {"schema": 2, "entries": {"mnli/full@tiny": other,
                                                     KEY: {"mean": 1.0, "metric": "accuracy", "tolerance": 2.5,
                                                           "reviewer": "x"}}})
    before = json.loads(path.read_text())
    updated, refused = bl.update(path, "unit", [make_result((83.0,))])
    assert updated == [KEY] and refused == []
    after = json.loads(path.read_text())
    assert after["entries"]["mnli/full@tiny"] == before["entries"]["mnli/full@tiny"]
    e = after["entries"][KEY]
    assert e["mean"] == 83.0 and e["tolerance"] == 2.5 and e["reviewer"] == "x" and e["floor"] == 50.0
    assert path.read_text() == bl.dumps(after)  # sorted, pretty, stable
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_run_with_another_model_gets_its_own_entry(tmp_path):
    path = tmp_path / "unit.json"
    bl.update(path, "unit", [make_result((83.0,))])
    other = make_result((60.0,))
    other.config = {**other.config, "model": "bert-base-uncased"}
    bl.update(path, "unit", [other])
    entries = json.loads(path.read_text())["entries"]
    assert entries[KEY]["mean"] == 83.0 and entries["sst2/seq_bn@bert-base-uncased"]["mean"] == 60.0


def test_update_refuses_failed_runs_and_what_the_caller_refuses(tmp_path):
    path = tmp_path / "unit.json"
    updated, refused = bl.update(path, "unit", [make_result(status="failed")])
    assert updated == [] and "nan" in refused[0]
    assert not path.exists()
    updated, refused = bl.update(path, "unit", [make_result()], refuse={KEY: "degenerate: ..."})
    assert updated == [] and "degenerate" in refused[0] and not path.exists()


def test_update_never_writes_a_non_finite_or_out_of_range_number(tmp_path):
    path = tmp_path / "unit.json"
    for bad in (float("nan"), float("inf"), 130.0, -5.0):
        updated, refused = bl.update(path, "unit", [make_result((bad,))])
        assert updated == [] and refused, bad
    assert not path.exists()


GOOD = {"metric": "accuracy", "mean": 80.0}


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not valid JSON"),
    ('{"entries": []}', "entries"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": "high"}}}', "mean"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "tolerance": -1}}}', "tolerance"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": NaN}}}', "NaN is not a number"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "tolerance": NaN}}}', "NaN"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": Infinity}}}', "Infinity"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": -5}}}', "outside 0..100"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 101}}}', "outside 0..100"),
    ('{"entries": {"k": {"metric": "pearson", "mean": -101}}}', "outside -100..100"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "n": "three"}}}', "n"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "throughput": [1]}}}', "throughput"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "values": [80, "x"]}}}', "values"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "n": 2, "values": [80]}}}', "n = 2 but 1 values"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80, "sd": -1}}}', "sd"),
    ('{"entries": {"k": {"metric": "accuracy", "mean": 80}, "k": {"metric": "accuracy", "mean": 70}}}',
     "duplicate key"),
    ('{"entries": {"k": {"mean": 80}}}', "metric"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
])
def test_broken_file_is_reported_and_left_alone(tmp_path, content, problem):
    path = tmp_path / "unit.json"
    path.write_text(content)
    with pytest.raises(SuiteError) as e:
        bl.load(path)
    msg = str(e.value)
    assert str(path) in msg and problem in msg and "git checkout" in msg and "\n" not in msg and len(msg) < 600
    with pytest.raises(SuiteError):
        bl.update(path, "unit", [make_result()])
    assert path.read_text() == content


def test_a_folder_or_non_utf8_in_place_of_the_file_is_one_line(tmp_path):
    (tmp_path / "unit.json").mkdir()
    with pytest.raises(SuiteError, match="is a folder"):
        bl.load(tmp_path / "unit.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"entries": {"\xff": 1}}')
    with pytest.raises(SuiteError, match="not UTF-8"):
        bl.load(bad)


def test_update_keeps_throughput_of_other_hardware(tmp_path):
    path = tmp_path / "unit.json"
    key = bl.entry_key(make_result())
    bl.write_atomic(path, {"entries": {key: {"metric": "accuracy", "mean": 1.0,
                                             "throughput": {"cuda:H100 x1": {"train_samples_per_s": 900.0}}}}})
    bl.update(path, "unit", [make_result()])
    tp = json.loads(path.read_text())["entries"][key]["throughput"]
    assert set(tp) == {"cuda:H100 x1", "cpu:test x2"}
