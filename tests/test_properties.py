"""Property-based tests: whatever a file or an option holds, the loaders and parsers give a value or one SuiteError
line, never another exception (which would reach the user as a traceback)."""

from __future__ import annotations

import copy
import json

import pytest
from factories import make_result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite.config import options
from suite.errors import SuiteError
from suite.gate import baselines as bl
from suite.gate import outcome
from suite.gate import verdicts as vd
from suite.report import table as report
from suite.store import results_files
from suite.store.results_files import write_results

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.integers(-10**20, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


def one_line_error(exc: SuiteError) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and len(msg) < 1000, msg


def dumped(doc) -> str:
    return json.dumps(doc)  # NaN/Infinity come out as the non-standard tokens: the loaders must refuse them


# --- baseline files ------------------------------------------------------------------------------------------

ENTRY_FIELDS = {
    "metric": st.sampled_from(["accuracy", "f1", "matthews_correlation", "pearson", "accuracy_m", ""]) | json_values,
    "mean": numbers | json_values,
    "sd": numbers | json_values, "n": st.integers(-2, 5) | json_values,
    "values": st.lists(numbers, max_size=4) | json_values, "metrics": st.dictionaries(st.text(max_size=8), numbers),
    "floor": numbers | json_values, "tolerance": numbers | json_values, "config_hash": st.text(max_size=12),
    "config": st.dictionaries(st.text(max_size=8), json_values, max_size=3), "data_fingerprint": json_values,
    "versions": st.dictionaries(st.sampled_from(["torch", "adapters", "transformers"]), st.text(max_size=8) | scalars),
    "throughput": st.dictionaries(st.text(max_size=8), st.dictionaries(st.text(max_size=8), numbers) | json_values),
    "provenance": st.fixed_dictionaries({}, optional={"seeds": json_values, "date": json_values,
                                                      "hardware": st.text(max_size=8) | scalars}),
    "noise": st.fixed_dictionaries({}, optional={"sd": numbers, "n_seeds": st.integers(-1, 6), "values": json_values,
                                                 "power": numbers, "detectable_drop": numbers | st.none()}),
}
entries = st.fixed_dictionaries({}, optional=ENTRY_FIELDS)
baseline_docs = st.fixed_dictionaries({"entries": st.dictionaries(st.sampled_from(
    ["sst2/seq_bn", "sst2/seq_bn@tiny", "mnli/full@tiny", "x"]), entries, max_size=3)},
    optional={"schema": json_values, "profile": json_values}) | json_values


def check_baseline_text(path, text_or_bytes) -> None:
    if isinstance(text_or_bytes, bytes):
        path.write_bytes(text_or_bytes)
    else:
        path.write_text(text_or_bytes, encoding="utf-8", errors="surrogatepass")
    try:
        data = bl.load(path)
    except SuiteError as exc:
        one_line_error(exc)
        return
    assert isinstance(data, dict) and isinstance(data["entries"], dict)
    for entry in data["entries"].values():  # whatever loads can be judged without a crash
        for status in ("ok", "failed"):
            result = make_result((70.0, 71.0), status=status)
            vd.judge(result, entry, vd.Policy(tolerance=1.0))
            vd.throughput_change(result, entry)
            vd.throughput_failure(result, entry, 10.0)


@SETTINGS
@given(doc=baseline_docs)
def test_any_json_baseline_document_loads_or_is_one_line(tmp_path, doc):
    check_baseline_text(tmp_path / "unit.json", dumped(doc))


@SETTINGS
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_as_a_baseline_file_loads_or_is_one_line(tmp_path, text):
    check_baseline_text(tmp_path / "unit.json", text)


# --- results files -------------------------------------------------------------------------------------------

def valid_results_doc(tmp_path) -> dict:
    path = tmp_path / "valid.json"
    results = [make_result((70.0, 72.0), key_method=m) for m in ("seq_bn", "lora")]
    rows = vd.rows(results, {r.key: vd.judge(r, None, vd.Policy(tolerance=1.0)) for r in results}, {})
    write_results(path, "unit", rows)
    return json.loads(path.read_text())


def leaf_paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaf_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from leaf_paths(v, (*prefix, i))


def replaced(doc, path, value):
    if not path:
        return value
    doc = copy.deepcopy(doc)
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return doc


def check_results_text(path, text) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        profile, rows = results_files.load_results(path)
    except SuiteError as exc:
        one_line_error(exc)
        return
    assert isinstance(profile, str)
    report.to_text(rows)  # whatever loads renders: the report and the diff read every field
    report.to_markdown(rows)
    vd.gap_failures([r.result for r in rows], 0.5)
    outcome.run_outcome(rows, strict=True)


@pytest.fixture(scope="module")
def valid_doc(tmp_path_factory):
    return valid_results_doc(tmp_path_factory.mktemp("results"))


@SETTINGS
@given(data=st.data(), value=json_values)
def test_a_results_file_with_any_field_replaced_loads_or_is_one_line(tmp_path, valid_doc, data, value):
    paths = list(leaf_paths(valid_doc))
    where = data.draw(st.sampled_from(paths))
    check_results_text(tmp_path / "r.json", dumped(replaced(valid_doc, where, value)))


@SETTINGS
@given(doc=json_values | st.text(max_size=200))
def test_any_json_or_text_as_a_results_file_loads_or_is_one_line(tmp_path, doc):
    check_results_text(tmp_path / "r.json", doc if isinstance(doc, str) else dumped(doc))


def test_the_valid_results_file_loads(tmp_path, valid_doc):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(valid_doc))
    profile, rows = results_files.load_results(path)
    assert profile == "unit" and len(rows) == 2


# --- option parsers ------------------------------------------------------------------------------------------

PARSED = [o for o in options.OPTIONS if not o.is_switch]
option_text = (st.text(max_size=60)
               | st.from_regex(r"[a-z_]{0,8}(\[[a-z_=0-9,\[\]]{0,12}\])?(=[-0-9.e]{0,6})?(,[a-z0-9_/%=.-]{0,8}){0,3}",
                               fullmatch=True)
               | st.from_regex(r"-?[0-9]{0,25}(/-?[0-9]{0,3})?(,-?[0-9]{0,12}){0,3}%?", fullmatch=True))


@SETTINGS
@given(which=st.sampled_from(PARSED), text=option_text)
def test_every_option_parser_gives_a_value_or_one_line(which, text):
    try:
        which.parse(text)
    except SuiteError as exc:
        one_line_error(exc)


@SETTINGS
@given(text=option_text)
def test_methods_parse_or_are_one_line(text):
    from suite.config.methods import parse_methods

    try:
        parse_methods(text)
    except SuiteError as exc:
        one_line_error(exc)
