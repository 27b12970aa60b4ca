"""Engine speed options (suite/config/speed.py; issue: honest speed): parsing, the config hash, the hardware check,
and each option reaching the run. (FLOPs and the GEMM calibration: tests/test_flops.py.)"""

import pytest
from helpers import tiny_case

from suite.config import speed
from suite.config.profiles import cases, get_profile
from suite.engine.run import run_case
from suite.errors import SuiteError


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
