"""GLUE data sources (suite/data/sources.py): the synthetic generator, every task's TSV format, sampling and
fingerprints, the Hub when offline, and the real files where ../shared/data/glue_data is present."""

import pytest
from helpers import GLUE_DATA

from suite.config.tasks import get_task
from suite.data import synthetic
from suite.data.sources import load_task_data, read_glue_tsv
from suite.errors import SuiteError

needs_glue = pytest.mark.skipif(not GLUE_DATA.is_dir(), reason="../shared/data/glue_data not present")


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
    import socket

    def no_network(*args, **kwargs):  # offline means no connection attempt at all, not "a fast one"
        raise AssertionError("a network connection was attempted while offline")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(SuiteError) as e:
        load_task_data(get_task("sst2"), "glue", glue_dir=None)
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
    train = list(d.train["label"])  # a 20,456-row sample of MNLI train (see the data folder's README)
    assert len(train) == 20456 and (train.count(0), train.count(1), train.count(2)) == (6862, 6797, 6797)
    m, mm = list(d.evals["m"]["label"]), list(d.evals["mm"]["label"])
    assert (len(m), len(mm)) == (9815, 9832)
    assert (m.count(0), m.count(1), m.count(2)) == (3479, 3123, 3213)  # entailment, neutral, contradiction


@needs_glue
def test_env_glue_dir_is_used(monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(GLUE_DATA))
    d = load_task_data(get_task("sst2"), "glue", train_size=10, eval_size=10)
    assert d.origin.startswith("glue-dir:") and len(d.train) == 10


# --- every task's real file format ------------------------------------------------------------------------

def test_cola_headerless_without_final_newline(tmp_path):
    p = tmp_path / "CoLA" / "dev.tsv"
    p.parent.mkdir()
    p.write_bytes(b"gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\ngj04\t0\t*\tJohn talked \"to Bill.")
    cols = read_glue_tsv(get_task("cola"), p)
    assert cols == {"text_a": ["The sailors rode the breeze clear of the rocks.", 'John talked "to Bill.'],
                    "label": [1, 0]}


def test_mrpc_byte_order_mark_and_quality_columns(tmp_path):
    p = tmp_path / "MRPC" / "dev.tsv"
    p.parent.mkdir()
    p.write_bytes("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said .\t\" He said .\n".encode())
    cols = read_glue_tsv(get_task("mrpc"), p)
    assert cols == {"text_a": ["He said ."], "text_b": ['" He said .'], "label": [1]}


def test_stsb_float_scores(tmp_path):
    p = tmp_path / "STS-B" / "dev.tsv"
    p.parent.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    p.write_text(header + "0\tmain\tMSRvid\t2012\t0\tnone\tnone\tA man.\tA guy.\t4.250\n")
    cols = read_glue_tsv(get_task("stsb"), p)
    assert cols["label"] == [4.25] and isinstance(cols["label"][0], float)


def test_stsb_bad_score(tmp_path):
    p = tmp_path / "STS-B" / "dev.tsv"
    p.parent.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    p.write_text(header + "0\tmain\tMSRvid\t2012\t0\tnone\tnone\tA man.\tA guy.\thigh\n")
    with pytest.raises(SuiteError, match=r"dev.tsv:2: score 'high' is not a number"):
        read_glue_tsv(get_task("stsb"), p)


@pytest.mark.parametrize("task, header, row, label", [
    ("qnli", "index\tquestion\tsentence\tlabel", "0\tWhy?\tBecause.\tnot_entailment", 1),
    ("rte", "index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\tentailment", 0),
    ("wnli", "index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\t1", 1),
    ("qqp", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "0\t1\t2\tHow?\tHow so?\t1", 1),
])
def test_pair_task_fixtures(tmp_path, task, header, row, label):
    t = get_task(task)
    p = tmp_path / t.glue_dir / "dev.tsv"
    p.parent.mkdir()
    p.write_text(f"{header}\n{row}\n")
    cols = read_glue_tsv(t, p)
    assert cols["label"] == [label] and len(cols["text_b"]) == 1


REAL = {  # rows and label counts from ../shared/data/glue_data/README.md (label ids in the Hub's order)
    ("cola", "train"): (8551, {1: 6023, 0: 2528}),
    ("cola", ""): (1043, {1: 721, 0: 322}),
    ("mrpc", "train"): (3668, {1: 2474, 0: 1194}),
    ("mrpc", ""): (408, {1: 279, 0: 129}),
    ("rte", "train"): (2490, {0: 1249, 1: 1241}),
    ("rte", ""): (277, {0: 146, 1: 131}),
}


@needs_glue
@pytest.mark.parametrize("task", ["cola", "mrpc", "rte"])
def test_real_classification_files(task):
    d = load_task_data(get_task(task), "glue", glue_dir=GLUE_DATA)
    for split, ds in [("train", d.train), ("", d.evals[""])]:
        rows, counts = REAL[(task, split)]
        labels = list(ds["label"])
        assert len(labels) == rows and {k: labels.count(k) for k in counts} == counts


@needs_glue
def test_real_stsb_scores():
    d = load_task_data(get_task("stsb"), "glue", glue_dir=GLUE_DATA)
    train, dev = list(d.train["label"]), list(d.evals[""]["label"])
    assert (len(train), len(dev)) == (5749, 1500)
    assert round(sum(train) / len(train), 3) == 2.701 and round(sum(dev) / len(dev), 3) == 2.364


@needs_glue
@pytest.mark.parametrize("task, missing", [("qnli", "QNLI/train.tsv"), ("qqp", "QQP/train.tsv")])
def test_real_dir_missing_task_files_are_named(task, missing):
    with pytest.raises(SuiteError) as e:
        load_task_data(get_task(task), "glue", glue_dir=GLUE_DATA)
    assert missing in str(e.value) and "download_glue_data.py" in str(e.value)


@needs_glue
def test_real_wnli_files():
    d = load_task_data(get_task("wnli"), "glue", glue_dir=GLUE_DATA)
    train, dev = list(d.train["label"]), list(d.evals[""]["label"])
    assert (len(train), train.count(0), train.count(1)) == (635, 323, 312)
    assert (len(dev), dev.count(0), dev.count(1)) == (71, 40, 31)


@needs_glue
def test_real_qnli_dev_labels():
    cols = read_glue_tsv(get_task("qnli"), GLUE_DATA / "QNLI" / "dev.tsv")
    assert len(cols["label"]) == 5463 and (cols["label"].count(0), cols["label"].count(1)) == (2702, 2761)


def test_synthetic_source_has_only_sst2_and_mnli():
    with pytest.raises(SuiteError, match="no generator for task 'rte'.*--glue-dir"):
        load_task_data(get_task("rte"), "synthetic")
