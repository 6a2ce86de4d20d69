# expander: `make setup` builds .venv idempotently; `make serve` starts the API (the main job);
# `make test` runs the whole suite; `make lint` runs ruff and the import contract; `make expand` expands one example prompt.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
export EXPANDER_CACHE ?= $(CURDIR)/.cache/expander
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test lint format serve expand bench clean-venv

setup: $(STAMP)

# The stamp depends on the files that define the environment: editing them re-runs setup.
$(STAMP): pyproject.toml scripts/setup_env.sh scripts/patch_cpu_compat.py scripts/install_browser.sh
	bash scripts/setup_env.sh $(PY) $(VENV)
	touch $(STAMP)

serve: setup
	$(BIN)/expander serve

expand: setup
	$(BIN)/expander expand "a red fox in snow"

test: setup
	$(BIN)/python -m pytest -q tests

# ruff (rules in pyproject.toml), the formatter in check mode, and the layers contract (import-linter).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python benchmarks/engine_throughput.py

clean-venv:
	rm -rf $(VENV)
