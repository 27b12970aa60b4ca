"""Where the project's own files live: one home for every default path (baselines, results, history, caches)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent   # suite/
ROOT = PACKAGE.parent                              # the project checkout
DEFAULT_BASELINES = ROOT / "baselines"
RESULTS = ROOT / "results"
DEFAULT_HISTORY = RESULTS / "history.sqlite"
DEFAULT_RUN_CACHE = RESULTS / "cache"
DEFAULT_DIAGNOSE = RESULTS / "diagnose"
