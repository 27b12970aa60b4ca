"""Progress (suite/engine/progress.py): bars on a terminal, quiet under CI, a heartbeat line where no bar is drawn."""

import pytest

from suite.engine import progress
from suite.errors import SuiteError


def test_progress_is_quiet_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(progress.HEARTBEAT_ENV, "0")
    assert progress.quiet()
    assert progress.bar(10, "x").disable


def _captured(monkeypatch):
    lines = []
    monkeypatch.setattr(progress, "_installed", progress.Output(line=lines.append, bar_file=None))
    return lines


def test_a_heartbeat_line_every_n_seconds_where_no_bar_is_drawn(monkeypatch):
    """Output piped (CI, a log file, an xdist worker): the bar becomes a heartbeat that writes one line per
    interval, with the step, the share done, the last loss and the time spent and left."""
    lines = _captured(monkeypatch)
    monkeypatch.delenv(progress.HEARTBEAT_ENV, raising=False)
    assert isinstance(progress.bar(10, "x"), progress.Heartbeat) and progress.heartbeat_interval() == 30.0
    now = [100.0]
    beat = progress.Heartbeat(600, "sst2/full seed 0", every=30.0, clock=lambda: now[0])
    for step in range(1, 201):  # 0.5 s a step: 100 s in all
        now[0] += 0.5
        if step % 25 == 0:
            beat.set_postfix(loss="0.693", refresh=False)
        beat.update(1)
    beat.close()
    assert lines == ["sst2/full seed 0: step 60/600 (10%), loss 0.693, 30 s spent, about 4.5 min of training left",
                     "sst2/full seed 0: step 120/600 (20%), loss 0.693, 60 s spent, about 4.0 min of training left",
                     "sst2/full seed 0: step 180/600 (30%), loss 0.693, 1.5 min spent, about 3.5 min of training left"]


def test_the_heartbeat_interval_is_configurable_and_checked(monkeypatch):
    lines = _captured(monkeypatch)
    monkeypatch.setenv(progress.HEARTBEAT_ENV, "0")
    bar = progress.bar(5, "x")
    assert bar.disable  # 0: no heartbeat lines
    for _ in range(5):
        bar.update(1)
    assert lines == []
    monkeypatch.setenv(progress.HEARTBEAT_ENV, "5")
    assert progress.bar(5, "x").every == 5.0
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(progress.HEARTBEAT_ENV, bad)
        with pytest.raises(SuiteError, match="GLUE_BENCH_HEARTBEAT=.* is not a number of seconds"):
            progress.bar(5, "x")
