"""Published GLUE dev numbers, shown as context next to paper-profile results. Never used as a gate.

Source: Pfeiffer et al. 2021, AdapterFusion (EACL), Table 1: BERT-base-uncased, GLUE dev sets, mean over seeds,
"Full" = full fine-tuning, "ST-A" = single-task seq_bn adapter with reduction factor 16; Table 3 for rf 2 and 64.
Copied from ../shared/reference/adapters-and-glue.md (section 2.1).
"""

from __future__ import annotations

SOURCE = "Pfeiffer et al. 2021 (AdapterFusion), BERT-base-uncased, dev, mean over seeds"

PUBLISHED = {
    ("bert-base-uncased", "sst2", "full"): 92.39,
    ("bert-base-uncased", "sst2", "seq_bn"): 91.85,
    ("bert-base-uncased", "sst2", "seq_bn[reduction_factor=2]"): 92.66,
    ("bert-base-uncased", "sst2", "seq_bn[reduction_factor=64]"): 92.01,
    ("bert-base-uncased", "sst2", "double_seq_bn"): 92.75,
    ("bert-base-uncased", "sst2", "head_only"): 85.17,
    ("bert-base-uncased", "mnli", "full"): 84.10,
    ("bert-base-uncased", "mnli", "seq_bn"): 84.32,
    ("bert-base-uncased", "mnli", "seq_bn[reduction_factor=2]"): 84.60,
    ("bert-base-uncased", "mnli", "seq_bn[reduction_factor=64]"): 84.08,
    ("bert-base-uncased", "mnli", "double_seq_bn"): 84.13,
    ("bert-base-uncased", "mnli", "head_only"): 54.59,
}


def published(model: str, task: str, method: str) -> float | None:
    return PUBLISHED.get((model.rsplit("/", 1)[-1] if model else model, task, method))
