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

# The built-in model's conversion (~40 s; the GGUF comes from a pinned package, so it is the same bytes every time)
# is kept machine-wide and shared by every clone, CI's fresh ones included; everything else the suite builds stays
# in the clone's own cache. Conversion is under a file lock and renamed into place, so clones cannot corrupt it.
SHARED_MODELS ?= $(HOME)/.cache/expander/models

test: setup
	@mkdir -p "$(SHARED_MODELS)" "$(EXPANDER_CACHE)"
	@[ -e "$(EXPANDER_CACHE)/models" ] || ln -s "$(SHARED_MODELS)" "$(EXPANDER_CACHE)/models"
	$(BIN)/python -m pytest -q --durations=25 tests

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
