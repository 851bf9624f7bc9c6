# Workflows: `make demo` (end to end on the local cloud), `make test`, `make lint`, `make bench`.
# PYTHON picks the interpreter for the virtualenv, e.g. `make test PYTHON=python3.12`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The alimt SDK transport ignores NO_PROXY; the local cloud lives on loopback, so no proxy applies.
unexport HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy

.PHONY: demo test lint fmt bench bench-quick reliability clean venv

venv: $(STAMP)

$(STAMP): requirements-dev.txt function/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench --markdown bench/RESULTS.md $(BENCH_ARGS)

# The CI guard (< 1 min): fails when a figure regresses > 25% from bench/baseline.json.
bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

# The reliability and security suite (tests/reliability): prints the figures, fails on any loss,
# duplicate write, crash on fuzzed input or leaked secret.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.report $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
