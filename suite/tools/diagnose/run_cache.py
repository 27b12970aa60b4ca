"""The run cache: results of earlier diagnoses' runs, reused only when their whole ``run_identity`` (config, data,
package releases, suite version and source) matches, never retrained."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from suite import files
from suite.config.paths import PACKAGE as root
from suite.config.profiles import CaseSpec
from suite.config.tasks import get_task
from suite.data import token_cache as cache
from suite.engine.results import CaseResult, package_versions
from suite.errors import SuiteError
from suite.gate.baselines import write_atomic


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """The content of the suite's own source files: any code change retrains rather than reusing older runs."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run_identity(case: CaseSpec) -> dict:
    """Everything a cached run must share with a new one to stand in for it: the config hash, the data (the
    tokenized-data cache key: sha256 of the source files' contents, or the synthetic generator's
    source; sample sizes; tokenizer), the package releases and the suite's version and source."""
    from suite import __version__  # read at call time: a changed version is another identity

    return {"config_hash": case.config_hash,
            "data": cache.key(get_task(case.task), case.data, case.glue_dir, case.train_size, case.eval_size,
                              case.model, case.max_length),
            "packages": package_versions(), "suite": __version__, "source": source_hash()}


class DiskCache:
    """Results of earlier runs, reused only when their whole ``run_identity`` matches, so that a repeated
    diagnosis does not retrain and runs from older code, other package releases or other data are never reused."""

    def __init__(self, directory, run: Callable[[CaseSpec], CaseResult]):
        self.dir = Path(directory)
        self._run = run
        self.hits = 0

    def _entry(self, case: CaseSpec) -> tuple[Path, dict]:
        identity = run_identity(case)
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        return self.dir / f"{case.config_hash}-{digest}.json", identity

    def __call__(self, case: CaseSpec) -> CaseResult:
        path, identity = self._entry(case)
        if path.exists():
            try:
                stored = json.loads(files.read_text(path))  # a FIFO or device: refused, never a hang
                result = CaseResult.from_dict(stored["result"])
                if stored.get("identity") == identity and result.config_hash == case.config_hash:
                    self.hits += 1
                    return result
            except (ValueError, TypeError, KeyError, AttributeError):  # ValueError: files.Unreadable, bad JSON
                pass  # a damaged cache entry is simply recomputed
        result = self._run(case)
        if result.ok:
            try:
                write_atomic(path, {"identity": identity, "result": result.to_dict()})
            except SuiteError:
                pass  # a cache entry that cannot be written (a FIFO in its place, a full disk) is left out
        return result
