"""Results files (suite/store/results_files.py): merged shards equal the unsharded run, a NaN metric stays strict
JSON and still fails, a schema problem is one line."""

from factories import RESULTS, report_result, results_file, two_model_results_files

from suite.report import table as report
from suite.store import results_files


def test_merged_shards_equal_the_unsharded_report(tmp_path):
    whole = results_file(tmp_path / "all.json", RESULTS)
    a = results_file(tmp_path / "a.json", RESULTS[:2], shard=(1, 2))
    b = results_file(tmp_path / "b.json", RESULTS[2:], shard=(2, 2))
    _, merged = results_files.merge([a, b])
    _, single = results_files.merge([whole])
    assert report.to_text(merged) == report.to_text(single)
    assert [r.verdict.to_dict() for r in merged] == [r.verdict.to_dict() for r in single]


def test_a_nan_metric_round_trips_through_the_results_file_and_still_fails(tmp_path):
    """Constant STS-B predictions give Pearson NaN: the results file stays strict JSON (null) and loads back as a
    failed case, never as a pass."""
    from suite.gate import verdicts as vd

    r = report_result("sst2", "seq_bn", [float("nan")], 100)
    rows = vd.rows([r], {r.key: vd.judge(r, None, vd.Policy(tolerance=1.0))})
    assert rows[0].verdict.status == "failed"
    path = tmp_path / "nan.json"
    results_files.write_results(path, "smoke", rows)
    assert "NaN" not in path.read_text()
    _, loaded = results_files.load_results(path)
    assert vd.judge(loaded[0].result, None, vd.Policy(tolerance=1.0)).status == "failed"


def test_a_schema_problem_under_a_key_with_a_newline_is_still_one_line():
    """Found by the property test: the JSON path of the problem quoted a key holding a newline verbatim."""
    from suite.gate.baselines import schema_problem
    from suite.store.results_files import results_problem

    for problem in (schema_problem({"schema": 1, "entries": {"a\nb": {"mean": "x"}}}),
                    results_problem({"cases": [{"floor": {"\n": None}}]}),
                    results_problem({"cases": {"\n": 1}})):
        assert problem and "\n" not in problem, problem


def test_an_older_file_without_the_model_in_its_keys_loads_under_task_method_at_model(tmp_path):
    minilm, tiny = two_model_results_files(tmp_path, legacy_minilm=True)
    assert '"key": "sst2/full"' in minilm.read_text().replace('"key":"', '"key": "')
    _, old = results_files.load_results(minilm)
    assert [(r.result.key, r.verdict.key, r.verdict.status) for r in old] == [
        ("sst2/full@minilm", "sst2/full@minilm", "pass"), ("sst2/seq_bn@minilm", "sst2/seq_bn@minilm", "pass")]
    _, merged = results_files.merge([minilm, tiny])  # the same cases from two models: four cases, none replaced
    assert [(r.result.key, r.verdict.status) for r in merged] == [
        ("sst2/full@minilm", "pass"), ("sst2/seq_bn@minilm", "pass"), ("sst2/full@tiny", "degenerate"),
        ("sst2/seq_bn@tiny", "degenerate")]
    assert merged[1].gap == 70.0 - 70.5 and merged[3].gap == 0.0  # each adapter against its own model's full
