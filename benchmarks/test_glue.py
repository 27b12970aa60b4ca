"""GLUE benchmark cases: one per task x method of the selected profile (ids like ``sst2-seq_bn``).

Each case trains and evaluates over the profile's seeds, records its figures through pytest-benchmark
(``extra_info``) and fails when its primary metric falls below ``baseline - tolerance``.
"""

import pytest


@pytest.mark.glue
def test_glue(case, glue_session, benchmark, record_case):
    result = benchmark.pedantic(glue_session.run, args=(case,), rounds=1, iterations=1)
    benchmark.extra_info.update(result.summary())
    record_case(result)
    verdict = glue_session.judge(result)
    if verdict.failed:
        pytest.fail(verdict.message, pytrace=False)
