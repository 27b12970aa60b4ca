"""make gpu-check (suite/tools/gpu_check.py): its wiring, run on the tiny model on CPU."""

import torch


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
