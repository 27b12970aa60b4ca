"""glue-adapter-bench: train adapters and full fine-tuning on GLUE, record quality and speed, gate on baselines.

Data flows one way: tasks/data -> model + method -> engine -> results -> baselines/verdicts -> report.
This package never imports pytest; the pytest layer (conftest.py, benchmarks/) only calls into it.
"""

__version__ = "0.1.0"
