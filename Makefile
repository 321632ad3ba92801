# asyncrl: `make demo` trains A3C on CartPole-v1 and evaluates it; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
BIN := $(VENV)/bin
RUN_DIR ?= runs/demo

.PHONY: setup demo test test-fast test-tier lint docs docs-check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# A stamp file so `make` reinstalls only when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -e ".[test,lint,atari,doom,minigrid,ray,mujoco,box2d,video,tune,wandb,docs,envpool]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	rm -rf $(RUN_DIR)
	$(BIN)/asyncrl train --algo a3c --env CartPole-v1 --target-return 475 --run-dir $(RUN_DIR)
	$(BIN)/asyncrl eval $(RUN_DIR) --episodes 100
	@echo "run directory: $(RUN_DIR) (learning curve: $(RUN_DIR)/curve.png)"

# The whole suite on every core (pytest-xdist): the tests that need the machine to themselves (learning, faults,
# Ray) run one after another in one group (tests/conftest.py WHOLE_MACHINE). TEST_JOBS=0 runs it in one process.
TEST_JOBS ?= auto
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadgroup

# Test tiers (markers, one per file: tests/conftest.py TIERS): unit (make test-fast, about 20 s), runtime,
# e2e, faults, learning, ray. `make test` runs them all; `make test-tier TIER=e2e` one of them.
test-fast: setup
	$(BIN)/python -m pytest -q -m unit

TIER ?= unit
test-tier: setup
	$(BIN)/python -m pytest -q -m $(TIER)

# ruff (rules and formatting) on everything; mypy on src/asyncrl as configured in pyproject.toml ([tool.mypy]).
lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# The documentation site (MkDocs + Material, API reference from the docstrings) into site/; --strict fails on
# broken links, anchors and references. docs-check screenshots two pages with headless Chromium (installed with
# apt-get where missing and this is root) and fails on an unstyled or empty page.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site

docs-check: docs
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
		(timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq chromium) >/dev/null 2>&1 || \
		echo "docs-check: apt-get could not install chromium"
	$(BIN)/python scripts/docs_check.py site runs/docs-check

clean:
	rm -rf $(VENV) runs site .pytest_cache

# Peer environment for benchmarks/time_to_solve.py: Stable-Baselines3 in its own venv,
# so the asyncrl venv stays free of SB3's dependency pins.
BENCH_VENV ?= .venv-bench
SB3_VERSION ?= 2.9.2

.PHONY: bench-env
bench-env: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q "torch==$(TORCH_VERSION)"
	$(BENCH_VENV)/bin/pip install -q "stable-baselines3==$(SB3_VERSION)" "gymnasium[classic-control,box2d]" ale-py opencv-python-headless
	$(BENCH_VENV)/bin/python -c "import stable_baselines3, gymnasium, torch; print('sb3', stable_baselines3.__version__, 'gymnasium', gymnasium.__version__, 'torch', torch.__version__)"
	touch $@
