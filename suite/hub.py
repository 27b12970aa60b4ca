"""Hub access that never hangs: a short reachability probe before any download, offline mode when none is needed.

Without network, every Hugging Face Hub lookup can hang 20-50 s before failing. The suite probes the endpoint
once (a few seconds at most) before it loads data or a model from the Hub, and turns offline mode on for runs
that need no Hub at all, so that they never touch the network.
"""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.request

from suite.errors import SuiteError

PROBE_TIMEOUT_S = 3.0


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def go_offline() -> None:
    """For runs that need no Hub: make transformers, datasets and evaluate use local files only."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:  # already imported modules read the flag at import time
        import huggingface_hub.constants as c

        c.HF_HUB_OFFLINE = True
    except ImportError:
        pass


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@functools.lru_cache(maxsize=4)
def _probe(url: str) -> str | None:
    """None when the endpoint answers at all (any HTTP status), else why not."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except Exception as exc:  # URLError, timeout, connection reset ...
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}"[:160]


def require_hub(what: str) -> None:
    """Fail within seconds, with what to do, when ``what`` needs the Hub and the Hub cannot be reached."""
    advice = ("Use --glue-dir DIR (or GLUE_DIR) for local GLUE data, --model minilm or a local model folder, "
              "or set HF_HUB_OFFLINE=1 to use what the Hugging Face cache already holds.")
    if offline():
        return  # the libraries then read their local cache and fail fast themselves
    problem = _probe(endpoint())
    if problem:
        raise SuiteError(f"{what} needs the Hugging Face Hub, which is unreachable at {endpoint()} ({problem}). "
                         f"{advice}")
