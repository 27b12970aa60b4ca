"""Data sources for GLUE tasks, one code path after loading.

Three sources give the same shape, a ``datasets.Dataset`` with columns ``text_a`` (``text_b`` for pairs)
and ``label`` (int, in the Hub's label order):

* ``synthetic``: the embedded deterministic generator (``suite.data.synthetic``); no download.
* ``glue`` from a local directory in the classic GLUE TSV layout (``--glue-dir`` or ``GLUE_DIR``).
  Files are read with quoting disabled: GLUE text contains lone quote characters.
* ``glue`` from the Hugging Face Hub (``nyu-mll/glue``) when no directory is given.

After loading, training data is sampled with a fixed data seed (independent of the training seed, so every
method and seed sees the same examples) and every split gets a content fingerprint.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from suite import files
from suite.config.tasks import Task
from suite.data.synthetic import GENERATORS
from suite.errors import SuiteError, shown
from suite.hub import require_hub

DATA_SEED = 1234                 # sampling seed for training subsets: the same rows for every method and seed
SYNTHETIC_TRAIN_ROWS = 4000      # rows the synthetic generator makes when a profile asks for "all"
SYNTHETIC_EVAL_ROWS = 1000
HUB_DATASET = "nyu-mll/glue"
GLUE_FILE_BYTES = 2 * 2**30   # the largest GLUE file (QQP, MNLI train) is under 100 MiB

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class TaskData:
    """The loaded data of one task: training rows and one dataset per evaluation split."""

    task: Task
    train: datasets.Dataset                 # noqa: F821
    evals: Mapping[str, datasets.Dataset]   # noqa: F821  EvalSplit.alias -> rows
    # where it came from, for provenance ("synthetic", "glue-dir:...", "hub:...")
    origin: str
    fingerprint: str                          # sha256 over every row used (train sample + eval), first 16 hex digits


def resolve_glue_dir(glue_dir: str | os.PathLike | None) -> Path | None:
    value = glue_dir or os.environ.get("GLUE_DIR")
    return Path(value).expanduser() if value else None


def load_task_data(task: Task, source: str, *, glue_dir=None, train_size: int | None = None,
                   eval_size: int | None = None) -> TaskData:
    """Load, sample and fingerprint one task's data. ``source`` is "synthetic" or "glue"."""
    if source == "synthetic":
        train, evals, origin = _load_synthetic(task, train_size, eval_size)
    elif source == "glue":
        directory = resolve_glue_dir(glue_dir)
        if directory is not None:
            train, evals, origin = _load_glue_dir(task, directory)
        else:
            train, evals, origin = _load_hub(task)
    else:
        raise SuiteError(f"Unknown data source '{source}'. Valid data sources: glue, synthetic.")

    train = _sample(train, train_size, f"{task.name} train")
    evals = {alias: _sample(ds, eval_size, f"{task.name} eval split '{alias or 'dev'}'") for alias, ds in evals.items()}
    for alias, ds in evals.items():
        _check_labels(task, ds, f"{task.name} eval split '{alias or 'dev'}' ({origin})")
    return TaskData(task=task, train=train, evals=evals, origin=origin, fingerprint=_fingerprint(train, evals))


# --- sources -----------------------------------------------------------------------------------------------

def _load_synthetic(task: Task, train_size, eval_size):
    import datasets

    generate = GENERATORS.get(task.name)
    if generate is None:
        raise SuiteError(
            f"The synthetic data source has no generator for task '{task.name}' (it has: {', '.join(GENERATORS)}). "
            "Use real GLUE data: --glue-dir DIR or the Hub.")
    train = datasets.Dataset.from_dict(generate(train_size or SYNTHETIC_TRAIN_ROWS, seed=0))
    evals = {split.alias: datasets.Dataset.from_dict(generate(eval_size or SYNTHETIC_EVAL_ROWS, seed=i + 1))
             for i, split in enumerate(task.eval_splits)}
    return train, evals, "synthetic"


def _load_glue_dir(task: Task, directory: Path):
    import datasets

    if not directory.is_dir():
        raise SuiteError(f"GLUE directory {directory} does not exist. Pass --glue-dir (or GLUE_DIR) pointing to the "
                         "folder that holds SST-2/, MNLI/, ... as written by download_glue_data.py.")
    task_dir = directory / task.glue_dir
    train = datasets.Dataset.from_dict(read_glue_tsv(task, task_dir / task.train_split.tsv_file))
    evals = {s.alias: datasets.Dataset.from_dict(read_glue_tsv(task, task_dir / s.tsv_file)) for s in task.eval_splits}
    return train, evals, f"glue-dir:{directory}"


def read_glue_tsv(task: Task, path: Path) -> dict[str, list]:
    """Read one classic GLUE TSV into columns text_a[, text_b], label. Quoting is disabled on purpose."""
    if not path.is_file():
        raise SuiteError(
            f"Missing GLUE file {path} for task '{task.name}'. Get it with download_glue_data.py (or point "
            f"--glue-dir at a folder with {task.glue_dir}/{path.name}), or leave --glue-dir unset to use the Hub.")
    columns: dict[str, list] = {"text_a": [], "label": []}
    if task.is_pair:
        columns["text_b"] = []
    label_ids = {name: i for i, name in enumerate(task.label_names)}
    with io.StringIO(_read_text(path), newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = list(task.tsv_header) if task.tsv_header else next(reader, None)
        if header is None:
            raise SuiteError(f"{path} is empty; re-download the {task.glue_dir} data.")
        wanted = (*task.tsv_text_columns, task.tsv_label_column)
        missing = [c for c in wanted if c not in header]
        if missing:
            raise SuiteError(f"{path}: header has no column {', '.join(missing)} (header: {', '.join(header)}); "
                             f"is this the {task.glue_dir} file from GLUE?")
        idx = [header.index(c) for c in wanted]
        for line_no, row in enumerate(reader, start=1 if task.tsv_header else 2):
            if not row:
                continue
            if len(row) != len(header):
                raise SuiteError(f"{path}:{line_no}: malformed row: {len(row)} fields, expected {len(header)}. "
                                 "Fix or re-download the file.")
            *texts, raw_label = (row[i] for i in idx)
            columns["text_a"].append(texts[0])
            if task.is_pair:
                columns["text_b"].append(texts[1])
            columns["label"].append(_parse_label(task, raw_label, label_ids, path, line_no))
    return columns


def _read_text(path: Path) -> str:
    """The file as text; invalid UTF-8 is one line naming the file and line. A leading byte-order mark (MRPC's
    files have one) is dropped."""
    try:
        data = files.read_bytes(path, limit=GLUE_FILE_BYTES)  # a FIFO or device is refused, never read forever
    except files.Unreadable as exc:
        raise SuiteError(f"GLUE file {path} {exc}. Fix or re-download the file.") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SuiteError(f"{path}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start}); GLUE files are UTF-8 "
                         "text. Fix or re-download the file.") from None


def _parse_label(task: Task, raw: str, label_ids: dict, path: Path, line_no: int):
    if task.is_regression:
        try:
            score = float(raw)
        except ValueError:
            raise SuiteError(f"{path}:{line_no}: score '{shown(raw)}' is not a number.") from None
        lo, hi = SCORE_RANGE
        if not (math.isfinite(score) and lo <= score <= hi):
            raise SuiteError(f"{path}:{line_no}: score '{shown(raw)}' is outside {lo:g}..{hi:g} (similarity scores); "
                             "fix or re-download the file.")
        return score
    label = label_ids.get(raw)
    if label is None:
        try:
            label = int(raw)
        except ValueError:
            label = -1
        if not 0 <= label < task.num_labels:
            raise SuiteError(f"{path}:{line_no}: unknown label '{raw}' "
                             f"(expected one of {', '.join(task.label_names)} or 0..{task.num_labels - 1}).")
    return label


def _load_hub(task: Task):
    import datasets

    require_hub(f"Loading {HUB_DATASET}/{task.hub_config}")
    try:
        raw = datasets.load_dataset(HUB_DATASET, task.hub_config)
    except Exception as exc:  # network, offline mode, missing cache: all end the same way for the user
        raise SuiteError(
            f"Could not load {HUB_DATASET}/{task.hub_config} from the Hugging Face Hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}). Without network, pass --glue-dir DIR (or set GLUE_DIR) to a local "
            "GLUE copy, or use the default smoke profile (synthetic data).") from None

    def normalize(ds):
        rename = {task.hub_text_columns[0]: "text_a"}
        if task.is_pair:
            rename[task.hub_text_columns[1]] = "text_b"
        keep = [*rename, "label"]
        return ds.remove_columns([c for c in ds.column_names if c not in keep]).rename_columns(rename)

    train = normalize(raw[task.train_split.hub_split])
    evals = {s.alias: normalize(raw[s.hub_split]) for s in task.eval_splits}
    return train, evals, f"hub:{HUB_DATASET}/{task.hub_config}"


# --- sampling and fingerprint ------------------------------------------------------------------------------

SCORE_RANGE = (0.0, 5.0)  # STS-B similarity scores


def _check_labels(task: Task, ds, what: str) -> None:
    """Every label in range, and more than one value: a dev split of one class has a trivial score of 100 (a
    constant predictor is perfect), constant STS-B scores make the correlation undefined; nothing can be judged."""
    labels = list(ds["label"])
    if task.is_regression:
        bad = next((v for v in labels if not (isinstance(v, (int, float)) and math.isfinite(v)
                                               and SCORE_RANGE[0] <= v <= SCORE_RANGE[1])), None)
        if bad is not None:
            raise SuiteError(f"{what}: score {shown(bad)} is outside {SCORE_RANGE[0]:g}..{SCORE_RANGE[1]:g}; fix the "
                             "data.")
    else:
        bad = next((v for v in labels if not (isinstance(v, int) and 0 <= v < task.num_labels)), None)
        if bad is not None:
            raise SuiteError(f"{what}: label {shown(bad)} is outside 0..{task.num_labels - 1}; fix the data.")
    if len(set(labels)) < 2:
        raise SuiteError(f"{what}: every one of its {len(labels)} rows has the same label ({shown(labels[0])}): a "
                         "constant prediction scores perfectly, so no method can be judged on it. Use a dev file with "
                         "more than one class (or a larger eval size).")


def _sample(ds, size: int | None, what: str):
    if size is not None and len(ds) > size:
        ds = ds.shuffle(seed=DATA_SEED).select(range(size))
    if len(ds) == 0:
        raise SuiteError(f"{what} is empty after sampling; check the data files and the profile's sizes.")
    return ds


def _fingerprint(train, evals: Mapping[str, datasets.Dataset]) -> str:  # noqa: F821
    h = hashlib.sha256()
    for name, ds in [("train", train), *sorted(evals.items())]:
        h.update(f"<{name}:{len(ds)}>".encode())
        cols = [list(ds[c]) for c in ("text_a", "text_b", "label") if c in ds.column_names]
        for row in zip(*cols):
            h.update("\t".join(map(str, row)).encode())
            h.update(b"\n")
    return h.hexdigest()[:16]
