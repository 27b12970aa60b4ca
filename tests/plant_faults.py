"""A pytest plugin that plants a fault in a real benchmark run, for the planted-regression tests on real data.

Loaded as ``pytest benchmarks -p tests.plant_faults`` with ``GLUE_BENCH_PLANT=frozen-adapters``: after each method is
applied, the adapter's own weights stop receiving gradients (as if a release broke ``train_adapter``), so the
adapter never learns and only the classification head trains. The case's config, data and baseline are unchanged:
only the code is broken, which is what the gate exists to catch."""

import os

from suite.config import methods


def pytest_configure(config):
    if os.environ.get("GLUE_BENCH_PLANT") != "frozen-adapters":
        return
    apply = methods.Method.apply

    def apply_then_freeze_adapters(self, model):
        apply(self, model)
        if self.adapter_config is not None:
            for name, p in model.named_parameters():
                if methods.ADAPTER_NAME in name and not name.startswith("heads."):
                    p.requires_grad_(False)

    methods.Method.apply = apply_then_freeze_adapters
