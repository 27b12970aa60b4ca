# Two commands for a fresh machine: `make bench` (the main job) and `make test` (what CI runs).
# Both create .venv on first use. GPU users: create .venv with your CUDA torch first (or run
# `make venv TORCH_SPEC=`), and the CPU wheel is not installed.

PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
GLUE_DATA  ?= ../shared/data/glue_data
BENCH_ARGS ?=
PYTEST_ARGS ?=

# The default profile needs no network: never let a hub lookup hang. Override with HF_HUB_OFFLINE=0.
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: bench test unit lint perf gpu-check venv clean test-oldest

# The stamp records what was installed (a hash of pyproject.toml, the pinned constraints and TORCH_SPEC), not when:
# a fresh clone (new modification times) reuses an up-to-date .venv; an edit to any of them reinstalls.
PINNED       ?= constraints/pinned.txt
INSTALL_HASH := $(shell cat pyproject.toml $(PINNED) 2>/dev/null | $(PYTHON) -c \
                  "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()+b'$(TORCH_SPEC)').hexdigest()[:16])")
ifneq ($(shell cat $(VENV)/.installed 2>/dev/null),$(INSTALL_HASH))
.PHONY: $(VENV)/.installed
endif

bench: $(VENV)/.installed
	$(PY) -m pytest benchmarks $(BENCH_ARGS)

# Benchmarks under test run strict (a case with no usable baseline fails) and leave the results history alone.
# The real-data step (where $(GLUE_DATA) exists): quick SST-2 (both methods) and quick MNLI seq_bn gated strictly,
# then the planted regressions on real data (tests marked realdata: an MNLI adapter that stops learning must fail).
test: $(VENV)/.installed lint
	$(PY) -m pytest tests -n 2 --dist loadgroup -m "not realdata" $(PYTEST_ARGS)
	$(PY) -m pytest benchmarks --strict-baselines --no-history $(PYTEST_ARGS)
	@if [ -d "$(GLUE_DATA)" ]; then \
	  echo "real GLUE data at $(GLUE_DATA): quick profile on SST-2 and MNLI (seq_bn), then planted MNLI regression"; \
	  $(PY) -m pytest benchmarks --bench-profile quick --glue-dir "$(GLUE_DATA)" --tasks sst2,mnli \
	    -k "sst2 or seq_bn" --strict-baselines --no-history $(PYTEST_ARGS) && \
	  $(PY) -m pytest tests -m realdata $(PYTEST_ARGS); \
	else echo "no GLUE data at $(GLUE_DATA): quick-profile check skipped"; fi

unit: $(VENV)/.installed
	$(PY) -m pytest tests -n 2 --dist loadgroup -m "not realdata" $(PYTEST_ARGS)

# ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade, complexity) and the import-linter layers contract
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

venv: $(VENV)/.installed

# pyproject.toml declares ranges for adapters and transformers; the default set-up installs the pinned pair
# (constraints/pinned.txt), so that baselines recorded here stay comparable.
$(VENV)/.installed:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ] && ! $(PY) -c "import torch" 2>/dev/null; then \
	  echo "installing $(TORCH_SPEC) (CPU build)"; $(PY) -m pip install -q "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -q -c $(PINNED) -e ".[test]"
	@echo $(INSTALL_HASH) > $@

# The oldest supported adapters/transformers pair (constraints/oldest.txt) in its own venv: the unit tests (without
# the end-to-end and real-data ones) and the smoke benchmark. Needs network (or a local wheel index) for the old
# releases.
OLDEST_VENV ?= .venv-oldest
test-oldest:
	$(MAKE) venv VENV=$(OLDEST_VENV) PINNED=constraints/oldest.txt
	$(OLDEST_VENV)/bin/python -c "import adapters, transformers; print('adapters', adapters.__version__, \
	  'transformers', transformers.__version__)"
	$(OLDEST_VENV)/bin/python -m pytest tests -n 2 --dist loadgroup -m "not e2e and not realdata" $(PYTEST_ARGS)
	$(OLDEST_VENV)/bin/python -m pytest benchmarks --strict-baselines --no-history $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(OLDEST_VENV) .pytest_cache .benchmarks

perf: $(VENV)/.installed
	$(PY) -m suite perf $(if $(wildcard $(GLUE_DATA)),--glue-dir $(GLUE_DATA))

# On a machine with a CUDA GPU (and your CUDA torch in .venv): smoke in bf16, the paper profile's wiring, throughput and
# MFU at BERT-base shape; under 10 minutes. Says so and exits 2 where no GPU is visible.
gpu-check: $(VENV)/.installed
	$(PY) -m suite.tools.gpu_check
