# pruning-lightning: `make demo` and `make test` set themselves up on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Default: the PyPI wheel (the CUDA 13 build, ~5.9 GB venv). Pick another build on first install, e.g.
#   make install TORCH="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu"
#   (CPU only) or .../whl/cu126 (CUDA 12); see README "Install".
TORCH   ?= torch==2.14.1 torchvision==0.29.1
export WANDB_MODE ?= disabled

.PHONY: help install test test-fast typecheck demo lint format benchmark clean

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,deploy]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with dev and deploy extras

test: $(STAMP)  ## run the whole suite, slow end-to-end tests included (about 11 min on 2 CPU cores)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## skip the slow end-to-end tests
	$(BIN)/python -m pytest -q -m "not slow"

demo: $(STAMP)  ## the whole slimming slice on bundled digits: pipeline + report of an experiment file (about 4 min on 2 CPU cores)
	$(BIN)/pruning-lightning pipeline configs/experiments/demo_digits_slimming.yaml
	$(BIN)/pruning-lightning report runs/demo

typecheck: $(STAMP)  ## mypy on the package (configured in pyproject.toml)
	$(BIN)/mypy

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check pruning_lightning tests benchmarks

format: $(STAMP)  ## ruff format
	$(BIN)/ruff format pruning_lightning tests benchmarks

benchmark: $(STAMP)  ## Lightning vs bare-loop training throughput
	$(BIN)/python benchmarks/train_throughput.py

clean:  ## remove run outputs (keeps .venv)
	rm -rf runs lightning_logs wandb
