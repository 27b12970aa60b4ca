"""``python -m suite perf``: the engine against HF Trainer / AdapterTrainer (default and tuned), samples per
CPU-second side by side on SST-2; ``--ablate``: one row per engine speed option (suite.tools.perf)."""

from __future__ import annotations

import sys

from suite.errors import SuiteError
from suite.tools import perf

NAME = "perf"
HELP = "engine vs HF Trainer/AdapterTrainer throughput, side by side (SST-2)"
SIZES = (("train_size", 1, "2000", "training rows"), ("max_length", 8, "64", "maximum tokens per example"),
         ("batch_size", 1, "32", "training batch size"), ("epochs", 1, "1", "training epochs"))
MOST = {"train_size": 10_000_000, "max_length": 8192, "batch_size": 65536, "epochs": 1000}  # beyond: a typo


def add_arguments(parser) -> None:
    parser.add_argument("--glue-dir", default=None, metavar="DIR",
                        help="real SST-2 from here (default: synthetic SST-2-shaped data)")
    parser.add_argument("--model", default="minilm", metavar="ID", help="the model both sides train")
    for dest, least, default, what in SIZES:
        parser.add_argument(f"--{dest.replace('_', '-')}", default=default, metavar="N",
                            help=f"{what} (a whole number >= {least})")
    parser.add_argument("--methods", default="full,seq_bn", metavar="LIST", help="comma list of methods")
    parser.add_argument("--bf16", action="store_true",
                        help="both sides under bf16 autocast (CPU with native bf16, or CUDA); default fp32")
    parser.add_argument("--ablate", action="store_true",
                        help="engine only: one row per speed option (docs 'Speed') with samples/s, MFU and accuracy")


def run(args) -> int:
    sizes = {dest: perf.parse_count(f"--{dest.replace('_', '-')}", getattr(args, dest), least, MOST[dest])
             for dest, least, _, _ in SIZES}
    kw = dict(model=args.model, glue_dir=args.glue_dir, **sizes, methods=perf.parse_methods(args.methods))
    if args.ablate and args.bf16:
        raise SuiteError("--ablate already measures bf16 as one of its rows (cpu-bf16 on CPU, precision bf16 on CUDA) "
                         "against fp32 defaults; drop --bf16, or drop --ablate to compare with Trainer in bf16.")
    if args.ablate:
        print(perf.render_ablation(perf.ablate(**kw, log=lambda line: print(line, file=sys.stderr))))
    else:
        print(f"precision: {'bf16 autocast on both sides' if args.bf16 else 'fp32 on both sides'}\n")
        print(perf.render(perf.compare(**kw, bf16=args.bf16)))
    return 0
