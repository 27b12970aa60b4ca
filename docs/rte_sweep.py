"""One-off RTE sweep on the quick profile (issue: can the embedded MiniLM beat RTE's floor by more than its tolerance?).

    HF_HUB_OFFLINE=1 .venv/bin/python docs/rte_sweep.py ../shared/data/glue_data

Runs the quick profile's RTE case (all 2,490 training rows, the 277-row dev set, seed 0) with one change at a time
from the sweep below, in order, and appends each result to docs/measured-rte-sweep.json (a rerun skips what is
there). The floor (majority class) is 52.71 and the quick tolerance for RTE 3.0: a case is gateable only above 55.71.
"""
import dataclasses
import json
import sys
import time
from pathlib import Path

from suite.config.methods import get_method
from suite.config.profiles import cases, get_profile
from suite.engine.run import run_case

OUT = Path(__file__).with_name("measured-rte-sweep.json")
# (method, changes): mean pooling and the learning rate first, then epochs, warm-up and length around the best
SWEEP = [
    ("full", {"pooling": "mean", "lr": 5e-5, "epochs": 3}),
    ("full", {"pooling": "mean", "lr": 2e-5, "epochs": 3}),
    ("full", {"pooling": "cls", "lr": 2e-5, "epochs": 3}),
    ("full", {"pooling": "mean", "lr": 1e-4, "epochs": 3}),
    ("full", {"pooling": "mean", "lr": 2e-5, "epochs": 8, "warmup_ratio": 0.1}),
    ("full", {"pooling": "mean", "lr": 2e-5, "epochs": 3, "max_length": 256}),
    ("seq_bn", {"pooling": "mean", "lr": 1e-3, "epochs": 8}),
]


def main(glue_dir: str) -> None:
    done = json.loads(OUT.read_text()) if OUT.exists() else []
    seen = {json.dumps([d["method"], d["changes"]], sort_keys=True) for d in done}
    for method, changes in SWEEP:
        if json.dumps([method, changes], sort_keys=True) in seen:
            continue
        [case] = cases(get_profile("quick"), tasks=["rte"], methods=[get_method(method)], glue_dir=glue_dir)
        case = dataclasses.replace(case, **changes)
        t0 = time.perf_counter()
        result = run_case(case)
        [run] = result.runs
        done.append({"method": method, "changes": changes, "accuracy": round(run.metrics["accuracy"], 2),
                     "floor": round(result.floor["accuracy"], 2), "seconds": round(time.perf_counter() - t0),
                     "config_hash": case.config_hash})
        OUT.write_text(json.dumps(done, indent=1) + "\n")
        print(done[-1], flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
