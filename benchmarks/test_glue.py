"""GLUE benchmark cases: one per task x method of the selected profile (ids like ``sst2-seq_bn``).

Each case trains and evaluates over the profile's seeds, records its figures through pytest-benchmark
(``extra_info``) and JUnit properties, and is judged by ``suite.gate.verdicts``; ``suite.gate.outcome`` decides
whether it fails: on a regression beyond tolerance and seed noise, a degenerate run (no better than a constant
prediction), a crash or a non-finite metric,
and (if asked) when an adapter trails full fine-tuning by more than ``--max-gap`` or training throughput fell by
more than ``--throughput-tolerance`` on matching hardware. A case with no usable baseline compared nothing: it is
skipped with the reason, or fails under ``--strict-baselines``.

The timed call (pytest-benchmark's one round) is the case's model setup, training and evaluation of every seed;
data loading and tokenizing run before it. Without pytest-benchmark (``-p no:benchmark``) the case just runs.
"""

import pytest

from suite.errors import SuiteError


@pytest.mark.glue
def test_glue(case, glue_session, bench, record_case):
    try:
        glue_session.prepare(case)  # not timed
        result = bench.pedantic(glue_session.run, args=(case,), rounds=1, iterations=1)
    except SuiteError as exc:  # a missing data file, an unloadable model: one line that says what to do
        pytest.fail(str(exc), pytrace=False)
    bench.extra_info.update(result.summary())
    record_case(result)
    verdict = glue_session.judge(result)
    fields = glue_session.case_fields(case, result, verdict)  # verdict, baseline, delta, tolerance, gap_vs_full
    bench.extra_info.update(fields)
    record_case(result, fields)
    problems = glue_session.case_failures(case, result, verdict)  # suite.gate.outcome decides
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    if verdict.unjudged:
        pytest.skip(verdict.message)
