"""Pitfall checks on the setup before training, each a finding with its evidence: a frozen classification head,
an adapter learning rate at full fine-tuning levels, adapter init drawn before seeding (non-reproducible), compared
runs with different heads or model classes, too few optimizer steps."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from suite.config.methods import get_method
from suite.config.models import load_model
from suite.config.profiles import CaseSpec
from suite.config.tasks import get_task
from suite.engine.run import prepare_data

MIN_ADAPTER_STEPS = 200     # fewer optimizer steps than this rarely let an adapter converge
ADAPTER_LR_FLOOR = 1e-4     # below this an adapter is trained at full fine-tuning rates
ADAPTER_LR_MIN_RATIO = 2.0  # nor below twice the full fine-tuning rate of the same run


# --- pitfall checks ----------------------------------------------------------------------------------------

@dataclass
class Finding:
    check: str
    ok: bool
    message: str
    evidence: dict = field(default_factory=dict)


def check_head_trainable(model) -> Finding:
    head = [(n, p) for n, p in model.named_parameters() if n.startswith("heads.") or n.startswith("classifier.")]
    frozen = [n for n, p in head if not p.requires_grad]
    n_params = sum(p.numel() for _, p in head)
    if not head:
        return Finding("head", False, "no classification head found on the model", {})
    if frozen:
        return Finding("head", False, f"the classification head is frozen ({len(frozen)} of {len(head)} tensors): a "
                       "randomly initialised head that cannot train makes any adapter look worse than it is; "
                       "unfreeze it", {"frozen": frozen, "head_params": n_params})
    return Finding("head", True, f"classification head trainable ({n_params:,} params)", {"head_params": n_params})


def check_adapter_lr(case: CaseSpec, full_case: CaseSpec) -> Finding:
    """Flagged exactly when the message's advice is not followed: an adapter rate below ADAPTER_LR_FLOOR, or below
    ADAPTER_LR_MIN_RATIO x the full fine-tuning rate."""
    ev = {"adapter_lr": case.lr, "full_lr": full_case.lr}
    if case.adapter_config is None and get_method(case.method).train_backbone:
        return Finding("lr", True, "full fine-tuning: no adapter learning rate to check", ev)
    if case.lr < ADAPTER_LR_FLOOR or case.lr < ADAPTER_LR_MIN_RATIO * full_case.lr:
        return Finding("lr", False, f"adapter learning rate {case.lr:g} is at full fine-tuning levels (full uses "
                       f"{full_case.lr:g}); adapters need at least {ADAPTER_LR_FLOOR:g} and at least "
                       f"{ADAPTER_LR_MIN_RATIO:g}x the full rate, usually {ADAPTER_LR_FLOOR:g} to 1e-3", ev)
    return Finding("lr", True, f"adapter learning rate {case.lr:g} is {case.lr / full_case.lr:.0f}x the full rate "
                   f"(at least {ADAPTER_LR_FLOOR:g} and {ADAPTER_LR_MIN_RATIO:g}x)", ev)


def check_seed_order(build: Callable[[int], object]) -> Finding:
    """Build twice with the same seed: adapter and head init must be identical, else the seed came too late."""
    import torch

    a, b = build(0), build(0)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    differ = [n for n, p in pa.items() if p.requires_grad and not torch.equal(p, pb[n])]
    if differ:
        return Finding("seed", False, f"the same seed gave different initial weights for {len(differ)} trainable "
                       "tensors: the seed is set after the adapter (or head) is created, so runs are not "
                       "reproducible; seed before building the model", {"differs": differ[:5]})
    return Finding("seed", True, "same seed, same initial adapter and head weights (seeded before creation)", {})


def check_same_setup(adapter_model, full_model) -> Finding:
    ev = {"adapter_model": type(adapter_model).__name__, "full_model": type(full_model).__name__}
    if ev["adapter_model"] != ev["full_model"]:
        return Finding("setup", False, f"compared runs use different model classes ({ev['adapter_model']} vs "
                       f"{ev['full_model']}): the gap mixes in the head difference", ev)

    def head_shapes(m):
        return [tuple(p.shape) for n, p in m.named_parameters()
                if n.startswith("heads.") or n.startswith("classifier.")]
    ha, hf = head_shapes(adapter_model), head_shapes(full_model)
    ev.update(adapter_head=ha, full_head=hf)
    if ha != hf:
        return Finding("setup", False, f"compared runs use different heads ({ha} vs {hf})", ev)
    return Finding("setup", True, f"same model class ({ev['adapter_model']}) and head for both runs", ev)


def check_steps(case: CaseSpec, train_rows: int) -> Finding:
    steps = math.ceil(train_rows / case.batch_size) * case.epochs
    ev = {"steps": steps, "train_rows": train_rows, "batch_size": case.batch_size, "epochs": case.epochs}
    if case.adapter_config is not None and steps < MIN_ADAPTER_STEPS:
        return Finding("steps", False, f"only {steps} optimizer steps ({train_rows} rows / batch {case.batch_size} x "
                       f"{case.epochs} epochs): adapters usually need more than {MIN_ADAPTER_STEPS} to converge; "
                       "train longer", ev)
    return Finding("steps", True, f"{steps} optimizer steps", ev)


def pitfall_checks(case: CaseSpec, full_case: CaseSpec) -> list[Finding]:
    """Run every check on the setup the suite would train (models are built, not trained)."""
    from transformers import set_seed

    task = get_task(case.task)

    def build(seed, spec=case):
        set_seed(seed)
        model = load_model(spec.model, task, pooling=spec.pooling)
        get_method(spec.method).apply(model)
        return model

    adapter_model = build(0)
    prepared = prepare_data(case.task, case.data, case.glue_dir, case.train_size, case.eval_size, case.model,
                            case.max_length)
    return [check_head_trainable(adapter_model), check_adapter_lr(case, full_case), check_seed_order(build),
            check_same_setup(adapter_model, build(0, full_case)), check_steps(case, len(prepared.train))]
