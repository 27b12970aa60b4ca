"""Progress (suite/engine/progress.py): bars on a terminal, quiet under CI."""


def test_progress_is_quiet_under_ci(monkeypatch):
    from suite.engine import progress

    monkeypatch.setenv("CI", "true")
    assert progress.quiet()
    assert progress.bar(10, "x").disable
