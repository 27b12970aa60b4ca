"""Tools beside the gate: diagnose, perf, gpu_check."""
