"""Unit tests never append to the project's results history (results/history.sqlite): runs started here, in
process or as subprocesses (which inherit the environment), have it off unless a test names a history file."""

import os
import shutil
import sys
import tempfile

os.environ["GLUE_BENCH_HISTORY"] = ""


def pytest_configure(config):
    """One directory of trained runs for the whole test session, xdist workers included (they inherit the
    environment): tests/reuse_runs.py. Removed by the process that made it, at the end.

    Under xdist each worker (and every process it starts) trains on one thread: N workers of torch's default one
    thread per core on N cores oversubscribe them, and OpenMP's waiting threads then made training tests 5-15x
    slower (test_planted's fixtures: 638 s instead of about 40 s in a clean-clone CI run)."""
    if hasattr(config, "workerinput"):
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # a test that asks for 2 threads waits asleep, not spinning
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
    if "GLUE_BENCH_TEST_RUNS" not in os.environ:
        directory = tempfile.mkdtemp(prefix="glue-bench-test-runs-")
        os.environ["GLUE_BENCH_TEST_RUNS"] = directory
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
