"""A pytest plugin for the suite's own subprocess tests, loaded with ``run_pytest(..., reuse_runs=True)``.

Several end-to-end tests drive the maintainer's loop through 4-6 pytest processes that train the same cases: what
they check is the baselines, verdicts and files around the runs, not the training. With this plugin the first
process that trains a case stores its result in a directory shared by the whole test session (``GLUE_BENCH_TEST_RUNS``,
set by tests/conftest.py), and later processes read it back, but only when the whole run identity matches (config
hash, data, package releases, the suite's version and source: ``suite.tools.diagnose.run_cache``), exactly as
diagnose reuses runs. Tests about training itself (xdist/shard determinism, interrupts, progress lines) do not load
it.
"""

import os

from suite.session import bench
from suite.tools.diagnose.run_cache import DiskCache


def pytest_configure(config):
    directory = os.environ.get("GLUE_BENCH_TEST_RUNS")
    if not directory:
        return
    train = bench._run_case
    lines: list = []  # the log of the case being trained now (the cache calls with the case only)

    def run_case(case, log):
        lines[:] = [log]
        return cached(case)

    cached = DiskCache(directory, lambda case: train(case, lines[0]))
    bench._run_case = run_case
