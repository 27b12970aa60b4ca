"""Every method on the tiny model: what trains, what must not change, and counts that match the adapters library."""

import pytest
import torch
from helpers import tiny_case

from suite.config.methods import METHODS, encoder_layers, get_method, parse_methods, split_list
from suite.config.models import load_model
from suite.config.tasks import get_task
from suite.engine.run import _optimizer, prepare_data, run_case, run_seed
from suite.errors import SuiteError

HYBRIDS = ["seq_bn+top2", "lora+top1+ln", "head_only+top1"]
# compacter's default bottleneck (hidden 32 / 32 = 1) is not divisible by its phm_dim 4 on the tiny model
ALL = [m if m != "compacter" else "compacter[reduction_factor=4]" for m in METHODS] + HYBRIDS + [
    "seq_bn[reduction_factor=2,leave_out=[0,1]]"]


def observed_run(method, **changes):
    case = tiny_case(method=method, lr=get_method(method).default_lr or 1e-3, **changes)
    seen = {}

    def observe(stage, model):
        if stage == "built":
            seen["before"] = {n: p.detach().clone() for n, p in model.named_parameters()}
            seen["trainable"] = {n for n, p in model.named_parameters() if p.requires_grad}
            seen["summary"] = model.adapter_summary(as_dict=True) if get_method(method).adapter_config else None
        else:
            seen["after"] = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = run_seed(case, 0, observe=observe)
    assert result.status == "ok", result.error
    return result, seen


@pytest.mark.parametrize("method", ALL)
def test_only_the_intended_parameters_change(method):
    result, seen = observed_run(method)
    before, after, trainable = seen["before"], seen["after"], seen["trainable"]
    assert any(n.startswith("heads.") for n in trainable), "the head must train for every method"
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    frozen_changed = changed - trainable
    assert not frozen_changed, f"frozen parameters changed: {sorted(frozen_changed)[:5]}"
    # trainable weights outside the forward graph cannot change: BERT's pooler (the adapters head reads the [CLS]
    # state directly) and LoReFT's unused suffix unit; everything that gets a gradient must change
    unchanged = (trainable & _gets_gradient(method)) - changed
    assert not unchanged, f"trainable parameters did not change: {sorted(unchanged)[:5]}"
    m = get_method(method)
    backbone_trainable = {n for n in trainable if n.startswith("bert.") and n in _backbone_names(before, seen)}
    if m.train_backbone:
        assert trainable == set(before)
    elif not m.is_hybrid:
        assert not backbone_trainable
    assert result.params.trainable == sum(before[n].numel() for n in trainable)


def _gets_gradient(method):
    from suite.engine.run import collate

    case = tiny_case(method=method)
    prepared = prepare_data(case.task, case.data, None, case.train_size, case.eval_size, case.model, case.max_length)
    torch.manual_seed(0)
    model = load_model("tiny", get_task("sst2"))
    get_method(method).apply(model)
    model.train()
    model(**collate(prepared.train, list(range(16)), prepared.pad_id, "cpu")).loss.backward()
    return {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


def _backbone_names(before, seen):
    fresh = load_model("tiny", get_task("sst2"))
    return {n for n, _ in fresh.named_parameters() if not n.startswith("heads.")}


@pytest.mark.parametrize("method", [m for m in ALL if get_method(m).adapter_config and not get_method(m).is_hybrid])
def test_adapter_counts_match_the_adapters_library(method):
    result, seen = observed_run(method)
    rows = {r["name"]: r for r in seen["summary"]}
    assert result.params.adapter == rows["bench"]["#param"]
    assert result.params.backbone == rows["Full model"]["#param"]
    assert result.params.trainable_pct == pytest.approx(rows["bench"]["%param"])


def test_hybrid_unfreezes_exactly_the_top_layers_at_the_backbone_rate():
    torch.manual_seed(0)
    model = load_model("tiny", get_task("sst2"))
    backbone = {n for n, _ in model.named_parameters() if not n.startswith("heads.")}
    get_method("seq_bn+top2").apply(model)
    n_layers = len(encoder_layers(model))
    for n, p in model.named_parameters():
        if n in backbone:
            top = any(f"encoder.layer.{i}." in n for i in range(n_layers - 2, n_layers))
            assert p.requires_grad == top, n
    opt = _optimizer(model, 1e-3, 0.01, backbone, 5e-5)
    rates = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert rates[id(p)] == (5e-5 if n in backbone else 1e-3), n


def test_ln_hybrid_unfreezes_layer_norms():
    torch.manual_seed(0)
    model = load_model("tiny", get_task("sst2"))
    get_method("lora+ln").apply(model)
    lns = [p.requires_grad for n, p in model.base_model.named_parameters() if "LayerNorm" in n]
    assert lns and all(lns)


def test_every_method_gets_the_same_head_and_data_for_a_seed():
    heads = {}
    for method in ["full", "seq_bn", "lora", "head_only"]:
        _, seen = observed_run(method)
        heads[method] = {n: t for n, t in seen["before"].items() if n.startswith("heads.")}
    ref = heads.pop("full")
    for method, h in heads.items():
        assert h.keys() == ref.keys() and all(torch.equal(h[n], ref[n]) for n in ref), method


@pytest.mark.parametrize("bad, message", [
    ("full+top2", "extend a frozen-backbone method"),
    ("lorra", "Did you mean: lora"),
    ("seq_bn[reduction_factor=4", "Unbalanced brackets"),
    ("seq_bn[reduction_factor=-4]", "reduction_factor=-4 must be > 0"),
    ("seq_bn[reduction_factor={'0':0}]", "reduction_factor.0=0 must be > 0"),
    ("lora[alpha=1e400]", "alpha=inf is not a finite number"),
    ("lora[r=0]", "r=0 must be > 0"),
    ("prefix_tuning[prefix_length=-1]", "prefix_length=-1 must be > 0"),
])
def test_bad_method_names(bad, message):
    from suite.config.methods import parse_methods

    with pytest.raises(SuiteError, match=message) as e:
        parse_methods(bad)
    assert "\n" not in str(e.value)


def test_config_that_does_not_fit_the_model_is_a_clear_error():
    with pytest.raises(SuiteError, match="cannot be applied to model 'tiny'.*phm_dim"):
        run_seed(tiny_case(method="compacter"), 0)


def test_too_many_top_layers_is_a_clear_error():
    with pytest.raises(SuiteError, match="only 4 encoder layers"):
        run_seed(tiny_case(method="seq_bn+top9"), 0)


def test_a_method_that_names_a_file_is_refused(tmp_path, monkeypatch):
    """adapters would load the file as a JSON config while the case is hashed by the path alone (README 'Methods')."""
    config = tmp_path / "my_adapter.json"
    config.write_text('{"architecture": "bottleneck", "reduction_factor": 4}')
    monkeypatch.chdir(tmp_path)
    for name in (str(config), "my_adapter.json"):
        with pytest.raises(SuiteError, match="names a file; a method is a name or an adapters config string"):
            get_method(name)


def test_seq_bn_trains_only_adapter_and_head():
    torch.manual_seed(0)
    model = load_model("tiny", get_task("sst2"))
    get_method("seq_bn").apply(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("adapter" in n or n.startswith("heads.") for n in trainable)
    assert any(n.startswith("heads.") for n in trainable)  # a frozen head is a known false deficit


def test_method_strings():
    assert (split_list("full, seq_bn[reduction_factor=4,leave_out=[0,1]]")
            == ["full", "seq_bn[reduction_factor=4,leave_out=[0,1]]"])
    ms = parse_methods("full,seq_bn[reduction_factor=4]")
    assert [m.family for m in ms] == ["full", "adapter"] and ms[1].adapter_config == "seq_bn[reduction_factor=4]"
    with pytest.raises(SuiteError, match="Unknown method 'seqbn'.*Did you mean: seq_bn"):
        get_method("seqbn")
    with pytest.raises(SuiteError, match="Unbalanced brackets"):
        split_list("seq_bn[reduction_factor=4")
    with pytest.raises(SuiteError, match="unexpected keyword"):
        get_method("seq_bn[reduction_factr=4]")


def test_reduction_factor_changes_capacity():
    small = run_case(tiny_case(method="seq_bn[reduction_factor=16]")).params
    big = run_case(tiny_case(method="seq_bn[reduction_factor=2]")).params
    assert big.adapter > small.adapter > 0
