"""FLOPs per token, the GEMM calibration and utilisation (suite/engine/flops.py; issue: honest speed)."""

import pytest
import torch
from helpers import tiny_case

from suite.config.methods import get_method
from suite.config.models import load_model
from suite.config.tasks import get_task
from suite.engine import flops
from suite.engine.run import run_case

TASK = get_task("sst2")


def _tiny(method="full"):
    torch.manual_seed(0)
    model = load_model("tiny", TASK)
    get_method(method).apply(model)
    return model


def _layer_weights(model):
    """Matmul weights per encoder layer, counted independently of suite.engine.flops: every 2-D parameter under
    encoder.layer.N."""
    out = {}
    for name, p in model.named_parameters():
        if ".encoder.layer." in name and p.ndim == 2:
            i = int(name.split(".encoder.layer.")[1].split(".")[0])
            out.setdefault(i, [0, 0])
            out[i][0] += p.numel()
            out[i][1] += p.numel() if p.requires_grad else 0
    return out


def test_full_fine_tuning_is_6n_plus_the_attention_term():
    model = _tiny("full")
    layers = _layer_weights(model)
    n = sum(w for w, _ in layers.values())
    s, d, L = 20.0, model.config.hidden_size, len(layers)
    f = flops.model_flops(model, s)
    assert f.per_token == pytest.approx(6 * n + 12 * L * s * d)
    assert f.forward_per_token == pytest.approx(2 * n + 4 * L * s * d)
    # embeddings (a lookup), the pooler (unused) and the head (once per sequence) are not counted
    total = sum(p.numel() for p in model.parameters())
    assert n < 0.5 * total


def test_adapter_backward_counts_only_what_needs_gradients():
    full, adapter = flops.model_flops(_tiny("full"), 20.0), _tiny("seq_bn")
    layers = _layer_weights(adapter)
    n = sum(w for w, _ in layers.values())
    trainable = sum(t for _, t in layers.values())
    s, d, L = 20.0, adapter.config.hidden_size, len(layers)
    f = flops.model_flops(adapter, s)
    # adapters in every layer: activation gradients through every layer, weight gradients for the adapters only
    assert f.per_token == pytest.approx(2 * n + 4 * L * s * d + 2 * n + 8 * L * s * d + 2 * trainable)
    assert f.per_token < full.per_token


def test_upper_layer_adapters_stop_the_backward_pass_at_their_lowest_layer():
    model = _tiny("seq_bn[leave_out=[0,1]]")
    layers = _layer_weights(model)
    assert not layers[0][1] and not layers[1][1] and layers[2][1]
    s, d = 10.0, model.config.hidden_size
    f = flops.model_flops(model, s)
    forward = sum(2 * w + 4 * s * d for w, _ in layers.values())
    act = sum(2 * layers[i][0] + 8 * s * d for i in (2, 3))
    assert f.lowest_trainable_layer == 2
    assert f.per_token == pytest.approx(forward + act + 2 * sum(t for _, t in layers.values()))


def test_a_frozen_encoder_costs_only_the_forward_pass():
    model = _tiny("head_only")
    f = flops.model_flops(model, 10.0)
    assert f.lowest_trainable_layer is None and f.per_token == pytest.approx(f.forward_per_token)


def test_effective_sequence_length_weights_tokens():
    assert flops.effective_seq_len([10, 10]) == 10
    assert flops.effective_seq_len([10, 30]) == pytest.approx((100 + 900) / 40)


def test_gemm_calibration_measures_a_positive_rate_and_is_cached():
    a = flops.gemm_rate(torch.device("cpu"), "fp32", 64, 32, 37)
    b = flops.gemm_rate(torch.device("cpu"), "fp32", 64, 32, 37)
    assert a == b and a > 0  # cached per process: every run of a case compares against one calibration


def test_gemm_calibration_is_shared_by_nearby_batch_shapes():
    flops._gemm_rate.cache_clear()
    flops.gemm_rate(torch.device("cpu"), "fp32", 400, 32, 37)
    flops.gemm_rate(torch.device("cpu"), "fp32", 430, 32, 37)  # the same half power of two: no second calibration
    assert flops._gemm_rate.cache_info().misses == 1


def test_datasheet_peak_is_none_on_cpu():
    assert flops.datasheet_peak(torch.device("cpu"), "bf16") is None


def test_each_run_reports_flops_and_utilisation_against_the_measured_gemm_rate():
    r = run_case(tiny_case(method="seq_bn", train_size=96))
    run = r.runs[0]
    assert run.flops_per_token and run.gemm_flops_per_s and run.mfu_gemm and run.mfu_gemm > 0
    assert run.mfu is None  # no datasheet peak on CPU
    assert "mfu_gemm" in r.summary()


def test_a_failing_flops_count_never_loses_a_finished_run(monkeypatch):
    def broken(model, seq_len):
        raise AttributeError("config has no hidden_size")

    monkeypatch.setattr(flops, "model_flops", broken)
    r = run_case(tiny_case(method="seq_bn"))
    assert r.ok and r.runs[0].mfu_gemm is None and r.runs[0].train_samples_per_s > 0
