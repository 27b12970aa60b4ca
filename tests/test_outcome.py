"""suite.gate.outcome: the one decision whether a case and a run fail."""

from factories import make_result

from suite.gate import outcome
from suite.gate.verdicts import Row, Verdict


def _row(status: str) -> Row:
    return Row(make_result((80.0,)), Verdict("sst2/seq_bn", status, "accuracy", 80.0, 80.0, 1.0,
                                             reasons=[f"because {status}"]))


def test_a_run_passes_only_when_nothing_fails():
    assert not outcome.run_outcome([_row("pass"), _row("improved")], strict=True).failed


def test_failing_verdicts_fail_the_run():
    for status in ("regression", "degenerate", "failed"):
        assert outcome.run_outcome([_row("pass"), _row(status)], strict=False).failed


def test_unjudged_cases_fail_only_under_strict():
    for status in ("no-baseline", "stale"):
        assert not outcome.run_outcome([_row(status)], strict=False).failed
        assert outcome.run_outcome([_row(status)], strict=True).failed


def test_every_gate_fails_the_run_on_its_own():
    rows = [_row("pass")]
    for gate in ("gap_failures", "throughput_failures", "history_failures"):
        result = outcome.run_outcome(rows, strict=False, **{gate: ["it failed"]})
        assert result.failed and any("it failed" in r for r in result.reasons)
    assert outcome.run_outcome(rows, strict=False, broken_files=True).failed


def test_a_strict_run_that_compared_nothing_fails():
    assert outcome.run_outcome([], strict=True).reasons == [outcome.NOTHING_RAN]
    assert not outcome.run_outcome([], strict=False).failed


def test_case_failures_put_the_verdict_first():
    assert outcome.case_failures(_row("regression").verdict, strict=False, gate_messages=["gap"])[1:] == ["gap"]
    assert outcome.case_failures(_row("stale").verdict, strict=False) == []
    assert outcome.case_failures(_row("stale").verdict, strict=True) != []
