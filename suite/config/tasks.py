"""The GLUE task registry: what each task is, where its data lives, how it is scored.

A ``Task`` is data, not code: the loaders in ``suite.data.sources`` read these fields and nothing task-specific.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from suite.errors import lookup


@dataclass(frozen=True)
class EvalSplit:
    """One evaluation split of a task."""

    alias: str       # short name used in metric keys ("m" -> "accuracy_m"); "" for the only split
    hub_split: str   # split name in the Hub dataset nyu-mll/glue
    tsv_file: str    # file name in the classic GLUE directory


@dataclass(frozen=True)
class Task:
    name: str                        # registry key and test id part: "sst2"
    glue_dir: str                    # folder in the classic GLUE layout: "SST-2"
    hub_config: str                  # config of the Hub dataset nyu-mll/glue
    hub_text_columns: tuple[str, ...]    # text columns in the Hub dataset (one or two)
    tsv_text_columns: tuple[str, ...]    # the same columns in the GLUE TSV header
    tsv_label_column: str                # label column in the GLUE TSV header
    label_names: tuple[str, ...]         # label id -> name, in the Hub's order; TSV strings map through this
                                         # (empty for regression: the label is a float score)
    eval_splits: tuple[EvalSplit, ...]
    metrics: tuple[str, ...] = ("accuracy",)  # computed by suite/metrics, in points (0-100)
    primary_metric: str = "accuracy"          # the one metric the gate uses (before the split alias suffix)
    description: str = ""
    train_split: EvalSplit = field(default=EvalSplit("", "train", "train.tsv"))
    tsv_header: tuple[str, ...] | None = None  # column names for GLUE files that have no header line (CoLA)

    @property
    def is_regression(self) -> bool:
        return not self.label_names

    @property
    def num_labels(self) -> int:
        """Outputs of the head: 1 for regression (STS-B), else the number of classes."""
        return len(self.label_names) or 1

    @property
    def is_pair(self) -> bool:
        return len(self.hub_text_columns) == 2

    def metric_key(self, metric: str, split: EvalSplit) -> str:
        return f"{metric}_{split.alias}" if split.alias else metric

    @property
    def primary_key(self) -> str:
        """The metric key that gates: the primary metric on the first evaluation split."""
        return self.metric_key(self.primary_metric, self.eval_splits[0])


_TASKS = {
    t.name: t
    for t in (
        Task(
            name="sst2",
            glue_dir="SST-2",
            hub_config="sst2",
            hub_text_columns=("sentence",),
            tsv_text_columns=("sentence",),
            tsv_label_column="label",
            label_names=("negative", "positive"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            description="single-sentence sentiment (Stanford Sentiment Treebank), accuracy",
        ),
        Task(
            name="mnli",
            glue_dir="MNLI",
            hub_config="mnli",
            hub_text_columns=("premise", "hypothesis"),
            tsv_text_columns=("sentence1", "sentence2"),
            tsv_label_column="gold_label",
            label_names=("entailment", "neutral", "contradiction"),
            eval_splits=(
                EvalSplit("m", "validation_matched", "dev_matched.tsv"),
                EvalSplit("mm", "validation_mismatched", "dev_mismatched.tsv"),
            ),
            description="sentence-pair inference, 3 classes; accuracy on matched (m) and mismatched (mm) dev",
        ),
        Task(
            name="cola",
            glue_dir="CoLA",
            hub_config="cola",
            hub_text_columns=("sentence",),
            tsv_text_columns=("sentence",),
            tsv_label_column="label",
            tsv_header=("source", "label", "original_label", "sentence"),  # GLUE's CoLA files have no header
            label_names=("unacceptable", "acceptable"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            metrics=("matthews_correlation",),
            primary_metric="matthews_correlation",
            description="single-sentence grammatical acceptability, Matthews correlation",
        ),
        Task(
            name="mrpc",
            glue_dir="MRPC",
            hub_config="mrpc",
            hub_text_columns=("sentence1", "sentence2"),
            tsv_text_columns=("#1 String", "#2 String"),
            tsv_label_column="Quality",
            label_names=("not_equivalent", "equivalent"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            metrics=("f1", "accuracy"),
            primary_metric="f1",
            description="sentence-pair paraphrase (news), F1 of the paraphrase class and accuracy",
        ),
        Task(
            name="stsb",
            glue_dir="STS-B",
            hub_config="stsb",
            hub_text_columns=("sentence1", "sentence2"),
            tsv_text_columns=("sentence1", "sentence2"),
            tsv_label_column="score",
            label_names=(),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            metrics=("pearson", "spearmanr"),
            primary_metric="pearson",
            description="sentence-pair similarity score 0-5 (regression head), Pearson and Spearman correlation",
        ),
        Task(
            name="qqp",
            glue_dir="QQP",
            hub_config="qqp",
            hub_text_columns=("question1", "question2"),
            tsv_text_columns=("question1", "question2"),
            tsv_label_column="is_duplicate",
            label_names=("not_duplicate", "duplicate"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            metrics=("f1", "accuracy"),
            primary_metric="f1",
            description="question-pair paraphrase (Quora), F1 of the duplicate class and accuracy",
        ),
        Task(
            name="qnli",
            glue_dir="QNLI",
            hub_config="qnli",
            hub_text_columns=("question", "sentence"),
            tsv_text_columns=("question", "sentence"),
            tsv_label_column="label",
            label_names=("entailment", "not_entailment"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            description="question / sentence inference (from SQuAD), accuracy",
        ),
        Task(
            name="rte",
            glue_dir="RTE",
            hub_config="rte",
            hub_text_columns=("sentence1", "sentence2"),
            tsv_text_columns=("sentence1", "sentence2"),
            tsv_label_column="label",
            label_names=("entailment", "not_entailment"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            description="sentence-pair textual entailment, 2.5k training rows, accuracy",
        ),
        Task(
            name="wnli",
            glue_dir="WNLI",
            hub_config="wnli",
            hub_text_columns=("sentence1", "sentence2"),
            tsv_text_columns=("sentence1", "sentence2"),
            tsv_label_column="label",
            label_names=("not_entailment", "entailment"),
            eval_splits=(EvalSplit("", "validation", "dev.tsv"),),
            description="Winograd pronoun inference as sentence pairs, accuracy (adversarial dev set)",
        ),
    )
}

TASKS: Mapping[str, Task] = MappingProxyType(_TASKS)


def get_task(name: str) -> Task:
    return lookup("task", name, TASKS)
