"""Profiles (suite/config/profiles.py): the published recipes of the paper profile, per-task budgets and
tolerances, and the learning rate each method gets."""

import dataclasses

from suite.config.methods import get_method
from suite.config.profiles import cases, get_profile, resolve_lr


def test_paper_profile_resolves_published_recipes():
    paper = get_profile("paper")
    full, adapter = cases(paper, tasks=["sst2"])
    assert full.model == adapter.model == "bert-base-uncased"
    assert (full.lr, full.epochs) == (2e-5, 3) and (adapter.lr, adapter.epochs) == (1e-4, 10)
    assert full.seeds == (0, 1, 2) and full.precision == "bf16" and full.train_size is None
    assert full.config()["precision"] == "bf16"
    smoke_full = cases(get_profile("smoke"), tasks=["sst2"])[0]
    assert "precision" not in smoke_full.config()  # fp32 leaves earlier config hashes unchanged


def test_per_task_tolerance_and_budgets_in_profile():
    p = dataclasses.replace(get_profile("smoke"), task_tolerance={"mnli": 3.0})
    assert p.tolerance_for("mnli") == 3.0 and p.tolerance_for("sst2") == p.tolerance
    quick = get_profile("quick")
    from suite.config.profiles import cases
    by = {(c.task, c.method): c for c in cases(quick)}
    assert by[("mrpc", "full")].epochs == quick.task_epochs["mrpc"] and by[("sst2", "full")].epochs == quick.epochs


def test_learning_rate_resolution():
    smoke = get_profile("smoke")
    assert resolve_lr(smoke, get_method("full")) == smoke.lr["full"]
    assert resolve_lr(smoke, get_method("seq_bn")) == smoke.lr["adapter"]
    assert resolve_lr(smoke, get_method("ia3")) == 3e-3                     # the method's own default
    assert resolve_lr(smoke, get_method("ia3"), {"adapter": 1e-2}) == 1e-2  # the family override wins
    assert resolve_lr(smoke, get_method("ia3"), {"ia3": 5e-3, "adapter": 1e-2}) == 5e-3


def test_left_out_tasks_are_not_run_by_default_and_say_why_when_named(tmp_path, capfd):
    """WNLI cannot be gated on the embedded model (measured far below its floor): the quick profile leaves it out of
    its tasks with the reason, and a run that names it with --tasks still runs it, saying why it is not gated."""
    from suite.config.options import Options
    from suite.session.bench import BenchSession

    quick = get_profile("quick")
    assert "wnli" not in quick.tasks and "below WNLI's majority class" in quick.left_out["wnli"]
    assert "wnli" not in {c.task for c in cases(quick)}
    session = BenchSession(Options(profile="quick", model="tiny", tasks="wnli", methods="full", glue_dir=str(tmp_path)))
    assert [c.task for c in session.cases()] == ["wnli"]
    out = capfd.readouterr()  # progress lines go to the real stderr
    assert "note: wnli is left out of the quick profile's gated tasks" in out.out + out.err
