import os
import time

import pytest

from suite import synthetic
from suite.data import load_task_data, read_glue_tsv
from suite.errors import SuiteError
from suite.tasks import TASKS, get_task

from helpers import GLUE_DATA

needs_glue = pytest.mark.skipif(not GLUE_DATA.is_dir(), reason="../shared/data/glue_data not present")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_contract(name):
    t = get_task(name)
    assert t.num_labels >= 2
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


@pytest.mark.parametrize("task", ["sst2", "mnli"])
def test_synthetic_is_deterministic_and_balanced(task):
    gen = synthetic.GENERATORS[task]
    a, b, c = gen(300, seed=0), gen(300, seed=0), gen(300, seed=1)
    assert a == b
    assert a != c
    counts = {lab: a["label"].count(lab) for lab in set(a["label"])}
    assert len(counts) == get_task(task).num_labels
    assert min(counts.values()) > 300 / get_task(task).num_labels * 0.7


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_keeps_lone_quotes(tmp_path):
    p = _write(tmp_path / "SST-2" / "dev.tsv", 'sentence\tlabel\na "quoted start only\t1\nit \'s fine\t0\n')
    cols = read_glue_tsv(get_task("sst2"), p)
    assert cols == {"text_a": ['a "quoted start only', "it 's fine"], "label": [1, 0]}


def test_tsv_maps_string_labels_in_hub_order(tmp_path):
    header = "index\tsentence1\tsentence2\tgold_label\n"
    p = _write(tmp_path / "MNLI" / "dev_matched.tsv",
               header + "0\tA man.\tA person.\tentailment\n1\tA man.\tA dog.\tcontradiction\n2\tX\tY\tneutral\n")
    cols = read_glue_tsv(get_task("mnli"), p)
    assert cols["label"] == [0, 2, 1]
    assert cols["text_b"] == ["A person.", "A dog.", "Y"]


def test_tsv_malformed_row_names_file_and_line(tmp_path):
    p = _write(tmp_path / "SST-2" / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\n")
    with pytest.raises(SuiteError, match=r"train.tsv:3: malformed row"):
        read_glue_tsv(get_task("sst2"), p)


def test_tsv_unknown_label(tmp_path):
    p = _write(tmp_path / "SST-2" / "train.tsv", "sentence\tlabel\ngood\t7\n")
    with pytest.raises(SuiteError, match=r"train.tsv:2: unknown label '7'"):
        read_glue_tsv(get_task("sst2"), p)


def test_missing_glue_file_names_it(tmp_path):
    (tmp_path / "SST-2").mkdir()
    with pytest.raises(SuiteError) as e:
        load_task_data(get_task("sst2"), "glue", glue_dir=tmp_path)
    assert "SST-2/train.tsv" in str(e.value) and "download_glue_data.py" in str(e.value)


def test_glue_dir_sampling_is_fixed_and_fingerprinted(tmp_path):
    rows = "".join(f"sentence number {i}\t{i % 2}\n" for i in range(200))
    _write(tmp_path / "SST-2" / "train.tsv", "sentence\tlabel\n" + rows)
    _write(tmp_path / "SST-2" / "dev.tsv", "sentence\tlabel\nok\t1\nno\t0\n")
    a = load_task_data(get_task("sst2"), "glue", glue_dir=tmp_path, train_size=50)
    b = load_task_data(get_task("sst2"), "glue", glue_dir=tmp_path, train_size=50)
    c = load_task_data(get_task("sst2"), "glue", glue_dir=tmp_path, train_size=60)
    assert len(a.train) == 50 and list(a.train["text_a"]) == list(b.train["text_a"])
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.origin == f"glue-dir:{tmp_path}"


def test_hub_without_network_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GLUE_DIR", raising=False)
    import datasets.config
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    t = time.monotonic()
    with pytest.raises(SuiteError) as e:
        load_task_data(get_task("sst2"), "glue", glue_dir=None)
    assert time.monotonic() - t < 20
    assert "--glue-dir" in str(e.value)


@needs_glue
def test_real_sst2_files():
    d = load_task_data(get_task("sst2"), "glue", glue_dir=GLUE_DATA)
    assert len(d.train) == 67349 and len(d.evals[""]) == 872
    labels = list(d.evals[""]["label"])
    assert (labels.count(1), labels.count(0)) == (444, 428)


@needs_glue
def test_real_mnli_files():
    d = load_task_data(get_task("mnli"), "glue", glue_dir=GLUE_DATA)
    assert len(d.train) == 480  # the shared copy holds a 480-row sample of MNLI train
    m, mm = list(d.evals["m"]["label"]), list(d.evals["mm"]["label"])
    assert (len(m), len(mm)) == (9815, 9832)
    assert (m.count(0), m.count(1), m.count(2)) == (3479, 3123, 3213)  # entailment, neutral, contradiction


@needs_glue
def test_env_glue_dir_is_used(monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(GLUE_DATA))
    d = load_task_data(get_task("sst2"), "glue", train_size=10, eval_size=10)
    assert d.origin.startswith("glue-dir:") and len(d.train) == 10
