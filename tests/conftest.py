"""Unit tests never append to the project's results history (results/history.sqlite): runs started here, in
process or as subprocesses (which inherit the environment), have it off unless a test names a history file."""

import os
import shutil
import tempfile

os.environ["GLUE_BENCH_HISTORY"] = ""


def pytest_configure(config):
    """One directory of trained runs for the whole test session, xdist workers included (they inherit the
    environment): tests/reuse_runs.py. Removed by the process that made it, at the end."""
    if "GLUE_BENCH_TEST_RUNS" not in os.environ:
        directory = tempfile.mkdtemp(prefix="glue-bench-test-runs-")
        os.environ["GLUE_BENCH_TEST_RUNS"] = directory
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
