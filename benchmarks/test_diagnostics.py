"""The diagnose sweeps as pytest cases (marked ``diagnostic``; not run unless selected with ``-m diagnostic``).

One case per adapter case of the session x factor, ids like ``sst2-seq_bn-capacity``. Each records how much of
the gap to full fine-tuning its factor's best variant closes (``extra_info``); it fails only when a run fails.
"""

import pytest

from suite.errors import SuiteError


@pytest.mark.diagnostic
def test_diagnose(diagnosis, glue_session, benchmark):
    case, factor = diagnosis
    try:
        d = benchmark.pedantic(glue_session.diagnose, args=(case, factor), rounds=1, iterations=1)
    except SuiteError as exc:
        pytest.fail(str(exc), pytrace=False)
    [effect] = d.effects
    benchmark.extra_info.update(task=case.task, method=case.method, factor=factor, gap=d.gap, noise=d.noise,
                                best_variant=effect.best_label, closed=effect.closed, closed_pct=effect.closed_pct,
                                inside_noise=effect.inside_noise, skipped=effect.skipped)
    failed = [r for r in d.runs if r["metric"] is None]
    assert not failed, f"sweep runs failed: {failed}"
