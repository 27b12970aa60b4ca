"""Baseline store and verdicts.

One JSON file per profile, ``baselines/<profile>.json``, pretty-printed with sorted keys so that an update reads
well in review. Entries are keyed ``task/method``. Files are only ever written by an explicit update: the new
content goes to a temporary file in the same folder and is renamed over the old one (never half-written),
under an exclusive lock so that concurrent updaters lose no entry. Fields the suite does not know are kept.

Quality is higher-is-better: a case regresses when ``mean < baseline - tolerance`` (points, 0-100 scale).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import SuiteError
from .results import CaseResult

SCHEMA = 1
STALE_VERSION_PACKAGES = ("torch", "transformers", "adapters", "datasets")


@dataclass
class Verdict:
    key: str
    status: str                  # pass | regression | improved | no-baseline | stale | failed | updated
    metric: str = ""
    measured: float | None = None
    baseline: float | None = None
    tolerance: float | None = None
    reasons: list[str] = field(default_factory=list)   # what differs, for stale; the error, for failed
    n: int = 0                   # seeds behind the measured mean
    baseline_n: int = 0          # seeds behind the baseline mean
    p_value: float | None = None  # one-sided Welch t-test of the change, when both sides have >= 2 seeds

    @property
    def delta(self) -> float | None:
        if self.measured is None or self.baseline is None:
            return None
        return self.measured - self.baseline

    @property
    def failed(self) -> bool:
        return self.status in ("regression", "failed")

    @property
    def message(self) -> str:
        if self.status == "failed":
            return f"{self.key}: run failed: {'; '.join(self.reasons)}"
        if self.status == "no-baseline":
            return f"{self.key}: no baseline entry; measured {self.metric} = {self.measured:.2f} (run with --update-baselines to record it)"
        if self.status == "stale":
            return f"{self.key}: baseline is stale, not compared ({'; '.join(self.reasons)}); re-record with --update-baselines"
        if self.status == "updated":
            return f"{self.key}: baseline will be updated to {self.metric} = {self.measured:.2f}"
        where = {"regression": "below baseline - tolerance", "improved": "above baseline + tolerance",
                 "pass": "within baseline ± tolerance"}[self.status]
        if self.p_value is None:
            sure = f"n={self.n} vs {self.baseline_n} seeds, no seed-noise estimate"
        else:
            sure = f"n={self.n} vs {self.baseline_n} seeds, one-sided Welch p={self.p_value:.3g}"
        if self.status == "pass" and abs(self.delta) > self.tolerance:
            where = "beyond the tolerance but inside seed noise (p >= 0.05)"
        return (f"{self.key}: {self.status}: {self.metric} = {self.measured:.2f}, baseline {self.baseline:.2f}, "
                f"delta {self.delta:+.2f}, tolerance {self.tolerance:.2f} ({where}; {sure})")

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        return cls(d["key"], d["status"], d.get("metric", ""), d.get("measured"), d.get("baseline"), d.get("tolerance"),
                   list(d.get("reasons") or []), d.get("n", 0), d.get("baseline_n", 0), d.get("p_value"))

    def to_dict(self) -> dict:
        return {"key": self.key, "status": self.status, "metric": self.metric, "measured": self.measured,
                "baseline": self.baseline, "tolerance": self.tolerance, "delta": self.delta, "reasons": self.reasons,
                "n": self.n, "baseline_n": self.baseline_n, "p_value": self.p_value, "message": self.message}


# --- files -------------------------------------------------------------------------------------------------

def baseline_path(directory: str | os.PathLike, profile: str) -> Path:
    return Path(directory) / f"{profile}.json"


def load(path: str | os.PathLike) -> dict:
    """The whole file as a dict; an empty store when the file does not exist. A broken file is a SuiteError."""
    path = Path(path)
    if not path.exists():
        return {"schema": SCHEMA, "entries": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"Baseline file {path} is not valid JSON ({exc}). Restore it with `git checkout -- {path}` "
                         "or delete it and re-record with --update-baselines.") from None
    problem = _schema_problem(data)
    if problem:
        raise SuiteError(f"Baseline file {path} has the wrong shape ({problem}). Restore it with "
                         f"`git checkout -- {path}` or delete it and re-record with --update-baselines.")
    return data


def _schema_problem(data) -> str | None:
    if not isinstance(data, dict):
        return "top level is not an object"
    if not isinstance(data.get("entries"), dict):
        return "no 'entries' object"
    for key, entry in data["entries"].items():
        if not isinstance(entry, dict):
            return f"entry '{key}' is not an object"
        if not isinstance(entry.get("mean"), (int, float)) or isinstance(entry.get("mean"), bool):
            return f"entry '{key}' has no numeric 'mean'"
        tol = entry.get("tolerance")
        if tol is not None and (not isinstance(tol, (int, float)) or tol < 0):
            return f"entry '{key}' has a tolerance that is not a number >= 0"
    return None


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_atomic(path: str | os.PathLike, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dumps(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive advisory lock on ``<path>.lock`` for read-modify-write cycles."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- entries and verdicts ----------------------------------------------------------------------------------

def entry_from_result(result: CaseResult) -> dict:
    stat = result.metric()
    prov = result.provenance or {}
    hw = prov.get("hardware", {})
    return {
        "metric": result.primary_metric,
        "mean": round(stat.mean, 4),
        "sd": round(stat.sd, 4),
        "n": stat.n,
        "values": [round(v, 4) for v in stat.values],
        "metrics": {k: round(result.metric(k).mean, 4) for k in sorted({k for r in result.runs for k in r.metrics})},
        "config_hash": result.config_hash,
        "config": result.config,
        "data_fingerprint": result.data_fingerprint,
        "versions": {k: v for k, v in prov.get("versions", {}).items()},
        "throughput": {hw.get("fingerprint", "unknown"): {
            "train_samples_per_s": round(result.mean_of("train_samples_per_s"), 2),
            "eval_samples_per_s": round(result.mean_of("eval_samples_per_s"), 2)}},
        "provenance": {"date": prov.get("date"), "git_commit": (prov.get("git") or {}).get("commit"),
                       "hardware": hw.get("fingerprint"), "seeds": [r.seed for r in result.runs],
                       "data_origin": result.data_origin},
    }


def _release(version: str | None) -> str | None:
    return version.split("+", 1)[0] if version else version


def stale_reasons(result: CaseResult, entry: dict) -> list[str]:
    reasons = []
    if entry.get("config_hash") and entry["config_hash"] != result.config_hash:
        old = entry.get("config") or {}
        diffs = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in sorted(result.config.items()) if old.get(k) != v]
        reasons.append("config changed" + (f" ({', '.join(diffs)})" if diffs and old else f" (hash {entry['config_hash']} -> {result.config_hash})"))
    if entry.get("data_fingerprint") and result.data_fingerprint and entry["data_fingerprint"] != result.data_fingerprint:
        reasons.append(f"data changed (fingerprint {entry['data_fingerprint']} -> {result.data_fingerprint})")
    old_v = entry.get("versions") or {}
    new_v = (result.provenance or {}).get("versions", {})
    for pkg in STALE_VERSION_PACKAGES:
        if old_v.get(pkg) and new_v.get(pkg) and _release(old_v[pkg]) != _release(new_v[pkg]):
            reasons.append(f"{pkg} {old_v[pkg]} -> {new_v[pkg]}")
    return reasons


ALPHA = 0.05  # significance level of the seed-noise test


def change_p_value(measured, baseline_mean: float, baseline_sd: float, baseline_n: int, direction: str) -> float | None:
    """One-sided Welch t-test that the measured mean is below ("less") or above ("greater") the baseline's.

    None when either side has fewer than 2 seeds (no estimate of seed noise) or both sides show no spread at all.
    """
    if measured.n < 2 or baseline_n < 2 or (measured.sd == 0 and baseline_sd == 0):
        return None
    from scipy.stats import ttest_ind_from_stats

    return float(ttest_ind_from_stats(measured.mean, measured.sd, measured.n, baseline_mean, baseline_sd, baseline_n,
                                      equal_var=False, alternative=direction).pvalue)


def judge(result: CaseResult, entry: dict | None, *, tolerance: float, tolerance_override: float | None = None,
          updating: bool = False) -> Verdict:
    """Compare one case with its baseline entry. Tolerance: command line > entry > profile.

    The rule: a regression is a drop of more than the tolerance that is also distinguishable from seed noise.
    With >= 2 seeds on both sides, "distinguishable" means a one-sided Welch t-test at ALPHA; with a single
    seed there is no noise estimate and the tolerance alone decides (on CPU the same seed reproduces the
    same number, so the tolerance then only absorbs float drift between machines). "improved" mirrors it.
    """
    metric = result.primary_metric
    if not result.ok:
        return Verdict(result.key, "failed", metric, reasons=[result.error or "unknown error"])
    stat = result.metric()
    measured = stat.mean
    if updating:
        return Verdict(result.key, "updated", metric, measured, entry.get("mean") if entry else None, n=stat.n)
    if entry is None:
        return Verdict(result.key, "no-baseline", metric, measured, n=stat.n)
    tol = tolerance_override if tolerance_override is not None else entry.get("tolerance", tolerance)
    if tol is None:
        tol = tolerance
    base_n = int(entry.get("n") or 1)
    verdict = Verdict(result.key, "pass", metric, measured, float(entry["mean"]), float(tol), n=stat.n,
                      baseline_n=base_n)
    if entry.get("metric") not in (None, metric):
        verdict.status, verdict.reasons = "stale", [f"metric changed ({entry.get('metric')} -> {metric})"]
        return verdict
    reasons = stale_reasons(result, entry)
    if reasons:
        verdict.status, verdict.reasons = "stale", reasons
        return verdict
    if abs(verdict.delta) > verdict.tolerance:
        direction = "less" if verdict.delta < 0 else "greater"
        verdict.p_value = change_p_value(stat, verdict.baseline, float(entry.get("sd") or 0.0), base_n, direction)
        if verdict.p_value is None or verdict.p_value < ALPHA:
            verdict.status = "regression" if verdict.delta < 0 else "improved"
    return verdict


def throughput_change(result: CaseResult, entry: dict | None) -> float | None:
    """Relative change (%) of training samples/s against the entry's figure for this hardware; None if it has none."""
    fp = ((result.provenance or {}).get("hardware") or {}).get("fingerprint")
    ref = ((entry or {}).get("throughput") or {}).get(fp) or {}
    base = ref.get("train_samples_per_s")
    if not base or not result.ok:
        return None
    return 100.0 * (result.mean_of("train_samples_per_s") / base - 1.0)


def update(path: str | os.PathLike, profile: str, results: Iterable[CaseResult]) -> tuple[list[str], list[str]]:
    """Rewrite the entries of the given results, keep everything else. Returns (updated keys, refused keys)."""
    path = Path(path)
    updated, refused = [], []
    with locked(path):
        data = load(path)
        data.setdefault("schema", SCHEMA)
        data.setdefault("profile", profile)
        for result in results:
            if not result.ok:
                refused.append(f"{result.key} ({result.error})")
                continue
            entry = data["entries"].get(result.key, {})
            new = entry_from_result(result)
            new["throughput"] = {**(entry.get("throughput") or {}), **new["throughput"]}  # other hardware stays
            entry.update(new)  # unknown fields (and a hand-set tolerance) stay
            data["entries"][result.key] = entry
            updated.append(result.key)
        if updated:
            write_atomic(path, data)
    return updated, refused
