"""Unit tests never append to the project's results history (results/history.sqlite): runs started here, in
process or as subprocesses (which inherit the environment), have it off unless a test names a history file."""

import os

os.environ["GLUE_BENCH_HISTORY"] = ""
