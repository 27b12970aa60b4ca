"""glue-adapter-bench: train adapters and full fine-tuning on GLUE, record quality and speed, gate on baselines.

Layers, each importing only the ones below it (checked by the import-linter contract in pyproject.toml):

    __main__, pytest_plugin   entry points: `python -m suite` / `glue-bench`, the pytest11 plugin
    commands/                 one module per subcommand
    session/                  a benchmark session: preflight checks, case selection, running, judging, finishing
    tools/                    diagnose, perf, gpu_check, contract (the gates' error-rate grid)
    report/                   terminal and Markdown tables, HTML report, plots
    store/                    results files, the SQLite history, change points, pytest-benchmark JSON
    gate/                     verdicts, baselines, calibration, adaptive seeds, statistics, outcome (fails or not)
    engine/                   one run: build, train, measure, evaluate; FLOPs; progress; result objects
    data/                     GLUE sources, synthetic data, the tokenized-data cache, the metric module
    config/                   options, tasks, methods, models, profiles, speed options, paths
    hub, errors, signals,     ground: used by every layer (files: state files opened as regular files only, read
    files                     with a size limit)

Import policy: project modules are imported at the top of a module, absolutely (``from suite.gate import
verdicts as vd``). Heavy third-party modules (torch, transformers, adapters, datasets, evaluate, accelerate,
matplotlib, scipy, sklearn) are imported inside the functions that use them, so that ``python -m suite --help``,
the report and baselines commands and ``pytest tests`` collection never pay for them (tests/test_structure.py
checks that importing the session, the commands and the plugin loads no torch). Only library code lives here:
nothing under suite/ imports pytest except suite/pytest_plugin.py.
"""

__version__ = "0.1.0"
