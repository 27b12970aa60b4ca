"""diagnose on the tiny model and synthetic data: each planted pitfall is reported; sweeps, judging and reuse work."""

import dataclasses

import pytest
import torch

from suite import diagnose as dg
from suite.methods import get_method
from suite.models import load_model
from suite.profiles import get_profile
from suite.results import CaseResult, RunResult
from suite.tasks import get_task

from helpers import tiny_case

TASK = get_task("sst2")


def build(method="seq_bn", seed_first=True):
    def make(seed):
        if seed_first:
            torch.manual_seed(seed)
        model = load_model("tiny", TASK)
        if not seed_first:
            torch.manual_seed(1234 + int(torch.randint(0, 10**6, (1,))))  # whatever RNG state the process has
        get_method(method).apply(model)
        if not seed_first:
            torch.manual_seed(seed)
        return model
    return make


def test_planted_frozen_head_is_reported():
    model = build()(0)
    assert dg.check_head_trainable(model).ok
    for n, p in model.named_parameters():
        if n.startswith("heads."):
            p.requires_grad_(False)
    f = dg.check_head_trainable(model)
    assert not f.ok and "head is frozen" in f.message and f.evidence["head_params"] > 0


def test_planted_full_ft_learning_rate_for_an_adapter_is_reported():
    full = tiny_case(method="full", lr=5e-5)
    f = dg.check_adapter_lr(tiny_case(method="seq_bn", lr=5e-5), full)
    assert not f.ok and "full fine-tuning levels" in f.message
    assert dg.check_adapter_lr(tiny_case(method="seq_bn", lr=1e-3), full).ok


def test_lr_rule_and_its_advice_agree():
    """The message recommends at least 1e-4 and 2x the full rate: rates that follow it pass, the others do not."""
    full = tiny_case(method="full", lr=5e-5)
    ok = dg.check_adapter_lr(tiny_case(method="seq_bn", lr=1e-4), full)
    assert ok.ok, ok.message  # 1e-4 vs full 5e-5: inside the recommended 1e-4..1e-3, 2x the full rate
    for lr, full_lr in [(9e-5, 1e-5), (1e-4, 1e-4), (1.5e-4, 1e-4)]:
        f = dg.check_adapter_lr(tiny_case(method="seq_bn", lr=lr), tiny_case(method="full", lr=full_lr))
        assert not f.ok and "at least 0.0001 and at least 2x the full rate" in f.message, (lr, full_lr)
    assert dg.check_adapter_lr(tiny_case(method="seq_bn", lr=2e-4), tiny_case(method="full", lr=1e-4)).ok


def test_planted_late_seed_is_reported():
    assert dg.check_seed_order(build(seed_first=True)).ok
    f = dg.check_seed_order(build(seed_first=False))
    assert not f.ok and "seed is set after the adapter" in f.message


def test_planted_different_head_or_model_class_is_reported():
    from transformers import BertConfig, BertForSequenceClassification

    from suite.models import TINY_CONFIG

    adapter_model = build()(0)
    hf = BertForSequenceClassification(BertConfig(vocab_size=30522, num_labels=2, **TINY_CONFIG))
    f = dg.check_same_setup(adapter_model, hf)
    assert not f.ok and "different model classes" in f.message
    other_head = build("full")(0)
    other_head.add_classification_head("other", num_labels=2, layers=1, overwrite_ok=True)
    f = dg.check_same_setup(adapter_model, other_head)
    assert not f.ok and "different heads" in f.message
    assert dg.check_same_setup(adapter_model, build("full")(0)).ok


def test_planted_too_few_steps_is_reported():
    f = dg.check_steps(tiny_case(train_size=64, batch_size=16, epochs=1), 64)
    assert not f.ok and "only 4 optimizer steps" in f.message
    assert dg.check_steps(tiny_case(batch_size=16, epochs=60), 64).ok


def test_pitfall_checks_on_the_suites_own_setup_pass_except_steps():
    case = tiny_case(method="seq_bn", lr=1e-3)
    findings = {f.check: f for f in dg.pitfall_checks(case, tiny_case(method="full", lr=5e-5))}
    assert all(findings[c].ok for c in ("head", "lr", "seed", "setup"))
    assert not findings["steps"].ok  # the tiny case trains 4 steps: reported


def test_variants_per_factor():
    case = tiny_case(method="seq_bn[leave_out=[0,1]]")
    vs, skipped = dg.variants(case, tiny_case(method="full", lr=5e-5), 4, budget="full")
    by = {}
    for v in vs:
        by.setdefault(v.factor, []).append(v)
    # the default reduction factor (16) and activation (relu) are the case itself, not variants
    assert [v.case.method for v in by["capacity"]] == [f"seq_bn[leave_out=[0,1],reduction_factor={r}]" for r in (64, 4, 2)]
    # on 4 layers "upper half only" and "top 2 only" are both leave_out=[0,1]: the case itself
    assert [v.case.method for v in by["placement"]] == ["seq_bn", "seq_bn[leave_out=[2,3]]"]
    assert [v.label for v in by["activation"]] == ["gelu", "swish", "tanh"]
    assert "seq_bn[leave_out=[0,1],non_linearity='tanh']" in [v.case.method for v in by["activation"]]
    assert [v.case.lr for v in by["lr"]] == [1e-4, 3e-4, 3e-3]  # 1e-3 is the case itself
    assert [v.case.epochs for v in by["length"]] == [3]
    hybrid = by["hybrid"][0].case
    assert hybrid.method == "seq_bn[leave_out=[0,1]]+top1" and hybrid.backbone_lr == 5e-5
    assert all(v.case.seeds == case.seeds and v.case.train_size == case.train_size for v in vs)
    lora_vs, lora_skipped = dg.variants(tiny_case(method="lora"), tiny_case(method="full"), 4, ["capacity", "activation"])
    assert [v.label for v in lora_vs] == ["r=2", "r=32", "r=64"] and "activation" in lora_skipped


def _fake(case, values):
    runs = [RunResult(task=case.task, method=case.method, seed=s, metrics={"accuracy": v}) for s, v in zip(case.seeds, values)]
    return CaseResult(key=case.key, task=case.task, method=case.method, profile="unit", primary_metric="accuracy",
                      config=case.config(), config_hash=case.config_hash, runs=runs)


def test_judging_ranks_the_factor_that_closes_the_gap_and_names_noise():
    seeds = (0, 1, 2)
    full = tiny_case(method="full", lr=5e-5, seeds=seeds)
    base = tiny_case(method="seq_bn[leave_out=[0,1,2]]", seeds=seeds)
    table = {full.config_hash: [85.0, 85.4, 84.8], base.config_hash: [80.0, 80.6, 79.9]}

    def fake_run(case):
        if case.config_hash in table:
            return _fake(case, table[case.config_hash])
        good = "leave_out" not in case.method and case.adapter_config == "seq_bn"  # all layers: closes the gap
        offset = -0.6 if good else 0.1  # everything else: inside noise
        return _fake(case, [x + (5.0 + offset if good else offset) for x in table[base.config_hash]])

    d = dg.diagnose(base, full, get_profile("smoke"), fake_run, factors=["placement", "activation", "lr"], checks=False)
    assert d.gap == pytest.approx(-4.9)
    effects = {e.factor: e for e in d.effects}
    assert not effects["placement"].inside_noise and effects["placement"].best_label == "all layers"
    assert effects["placement"].closed_pct == pytest.approx(100 * 4.4 / 4.9)
    assert effects["activation"].inside_noise and effects["lr"].inside_noise
    assert d.conclusion.startswith("seq_bn[leave_out=[0,1,2]] trails full fine-tuning by 4.90 points.")
    assert "The gap is mostly placement" in d.conclusion and "all layers closes 90% of it" in d.conclusion
    assert "Inside seed noise, do not matter here: activation, lr." in d.conclusion
    assert "2 x standard error over 3 paired seeds" in d.noise_basis


def test_disk_cache_reuses_runs_by_config_hash(tmp_path):
    calls = []

    def run(case):
        calls.append(case.config_hash)
        return _fake(case, [70.0])

    cache = dg.DiskCache(tmp_path, run)
    a = tiny_case()
    assert cache(a).metric().mean == 70.0 and cache(a).metric().mean == 70.0
    assert calls == [a.config_hash] and cache.hits == 1
    again = dg.DiskCache(tmp_path, run)  # a later diagnosis
    again(a)
    assert calls == [a.config_hash] and again.hits == 1
    again(dataclasses.replace(a, lr=2e-3))
    assert len(calls) == 2


def test_end_to_end_on_tiny_writes_markdown_json_and_plot(tmp_path):
    from suite.session import BenchSession, Options

    s = BenchSession(Options(profile="smoke", model="tiny", tasks="sst2", methods="seq_bn"))
    [case] = s.cases()
    case = dataclasses.replace(case, train_size=64, eval_size=48)
    full = dataclasses.replace(s.reference_case(case), train_size=64, eval_size=48)
    d = dg.diagnose(case, full, s.profile, s.run, factors=["capacity", "hybrid"])
    files = dg.write(d, tmp_path)
    md = (tmp_path / "diagnosis.md").read_text()
    assert "## Conclusion" in md and "| capacity |" in md and "| hybrid |" in md and "PROBLEM** (steps)" in md
    assert [f.name for f in files] == ["diagnosis.md", "diagnosis.json", "diagnosis.png"]
