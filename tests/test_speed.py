"""Speed options, FLOPs per token and the GEMM calibration (issue: honest speed)."""


import pytest
import torch
from helpers import tiny_case

from suite.config import speed
from suite.config.methods import get_method
from suite.config.models import load_model
from suite.config.profiles import cases, get_profile
from suite.config.tasks import get_task
from suite.engine import flops
from suite.engine.run import run_case
from suite.errors import SuiteError
from suite.tools.perf import ablate, render_ablation

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


def test_datasheet_peak_is_none_on_cpu():
    assert flops.datasheet_peak(torch.device("cpu"), "bf16") is None


def test_each_run_reports_flops_and_utilisation_against_the_measured_gemm_rate():
    r = run_case(tiny_case(method="seq_bn", train_size=96))
    run = r.runs[0]
    assert run.flops_per_token and run.gemm_flops_per_s and run.mfu_gemm and run.mfu_gemm > 0
    assert run.mfu is None  # no datasheet peak on CPU
    assert "mfu_gemm" in r.summary()


def test_speed_options_parse_to_a_canonical_sorted_set():
    assert speed.parse_speed("loop-adamw,compile") == ("compile", "loop-adamw")
    assert speed.parse_speed("compile, compile") == ("compile",)
    assert speed.parse_speed("") == () and speed.parse_speed(None) == ()
    for bad, match in (("compile,,cpu-bf16", "empty item"), ("compiel", "Unknown speed option"),
                       ("foreach-adamw,loop-adamw", "exclude each other")):
        with pytest.raises(SuiteError, match=match):
            speed.parse_speed(bad)


def test_speed_options_are_part_of_the_config_hash_only_when_set():
    smoke = get_profile("smoke")
    plain = cases(smoke, tasks=["sst2"])[0]
    fast = cases(smoke, tasks=["sst2"], speed=("compile",))[0]
    assert "speed" not in plain.config()  # existing baselines keep their hashes
    assert fast.config()["speed"] == ["compile"] and fast.config_hash != plain.config_hash


def test_cpu_bf16_is_refused_before_training_on_a_cpu_without_it(monkeypatch):
    monkeypatch.setattr(speed, "cpu_has_bf16", lambda: False)
    with pytest.raises(SuiteError, match="cpu-bf16 needs a CPU with native bf16"):
        speed.check_hardware(("cpu-bf16",))
    speed.check_hardware(("compile",))


def test_adamw_kernel_and_attention_options_reach_the_run():
    seen = {}

    def observe(stage, model):
        seen[stage] = model.config._attn_implementation
    from suite.engine.run import run_seed

    eager = tiny_case(method="full", speed=("eager-attention", "foreach-adamw"))
    r = run_seed(eager, 0, observe=observe)
    assert r.status == "ok" and seen["built"] == "eager"
    run_seed(tiny_case(method="full"), 0, observe=observe)
    assert seen["built"] == "sdpa"
    assert speed.adamw_kwargs(("foreach-adamw",), False) == {"foreach": True}
    assert speed.adamw_kwargs((), True) == speed.adamw_kwargs((), False) == {"fused": True}  # as Trainer
    assert speed.adamw_kwargs(("loop-adamw",), False) == {"foreach": False}


@pytest.mark.skipif(not speed.cpu_has_bf16(), reason="this CPU has no native bf16")
def test_cpu_bf16_autocast_changes_the_numbers_but_still_trains():
    plain = run_case(tiny_case(method="full"))
    bf16 = run_case(tiny_case(method="full", speed=("cpu-bf16",)))
    assert plain.ok and bf16.ok
    assert plain.runs[0].final_loss != bf16.runs[0].final_loss  # autocast really ran


def test_ablation_prints_one_row_per_option_against_the_defaults():
    options = [("defaults", (), "fp32"), ("eager-attention", ("eager-attention",), "fp32"),
               ("foreach-adamw", ("foreach-adamw",), "fp32")]
    rows = ablate(model="tiny", train_size=48, eval_size=32, max_length=32, batch_size=16, methods=("seq_bn",),
                  options=options)
    assert [r.option for r in rows] == ["defaults", "eager-attention", "foreach-adamw"]
    assert all(r.train_samples_per_s > 0 and r.error is None for r in rows)
    table = render_ablation(rows)
    assert "| seq_bn | eager-attention |" in table and "1.00x" in table


def test_gpu_check_wiring_runs_on_cpu_and_refuses_without_a_gpu(capsys):
    from suite.tools import gpu_check

    if not torch.cuda.is_available():
        assert gpu_check.main([]) == 2
        assert "no CUDA GPU visible" in capsys.readouterr().err
    assert gpu_check.main(["--allow-cpu", "--tiny", "--skip-trainer"]) == 0
    out = capsys.readouterr().out
    for part in ("## 1. smoke profile, bf16", "| sst2/full |", "| mnli/seq_bn |", "## 2. paper profile wiring",
                 "## 3. throughput"):
        assert part in out


def test_gemm_calibration_is_shared_by_nearby_batch_shapes():
    flops._gemm_rate.cache_clear()
    flops.gemm_rate(torch.device("cpu"), "fp32", 400, 32, 37)
    flops.gemm_rate(torch.device("cpu"), "fp32", 430, 32, 37)  # the same half power of two: no second calibration
    assert flops._gemm_rate.cache_info().misses == 1


def test_a_failing_flops_count_never_loses_a_finished_run(monkeypatch):
    def broken(model, seq_len):
        raise AttributeError("config has no hidden_size")

    monkeypatch.setattr(flops, "model_flops", broken)
    r = run_case(tiny_case(method="seq_bn"))
    assert r.ok and r.runs[0].mfu_gemm is None and r.runs[0].train_samples_per_s > 0
