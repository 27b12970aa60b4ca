"""The diagnose sweeps as pytest cases (marked ``diagnostic``; not run unless selected with ``-m diagnostic``).

One case per adapter case of the session x factor, ids like ``sst2-seq_bn-capacity``. Each records its factor's
verdict and effect on the gap to full fine-tuning (``extra_info``; Holm-corrected within the factor's variants);
it fails only when a run fails. Timed through pytest-benchmark when it is loaded (``bench``: a plain call without it).
"""

import pytest

from suite.errors import SuiteError


@pytest.mark.diagnostic
def test_diagnose(diagnosis, glue_session, bench):
    case, factor = diagnosis
    try:
        d = bench.pedantic(glue_session.diagnose, args=(case, factor), rounds=1, iterations=1)
    except SuiteError as exc:
        pytest.fail(str(exc), pytrace=False)
    [effect] = d.effects
    bench.extra_info.update(task=case.task, method=case.method, factor=factor, gap=d.gap, gap_ci=d.gap_ci,
                                gap_verdict=d.gap_verdict, verdict=effect.verdict, best_variant=effect.best_label,
                                closed=effect.closed, closed_pct=effect.closed_pct, ci_holm=effect.ci_holm,
                                p_holm=effect.p_holm, worse=effect.worse, skipped=effect.skipped)
    failed = [r for r in d.runs if r["metric"] is None]
    assert not failed, f"sweep runs failed: {failed}"
