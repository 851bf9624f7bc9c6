# Workflows: `make demo` (end to end on the local cloud), `make test`, `make lint`, `make bench`.
# PYTHON picks the interpreter for the virtualenv, e.g. `make test PYTHON=python3.12`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The alimt SDK transport ignores NO_PROXY; the local cloud lives on loopback, so no proxy applies.
unexport HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy

.PHONY: demo test lint complexity fmt bench bench-quick bench-day reliability clean venv package lock preview

venv: $(STAMP)

$(STAMP): requirements-dev.txt function/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# oss2 declares `crcmod` (an sdist that silently builds as pure Python without a compiler);
	# crcmod-plus provides the same module with wheels: drop the former, keep the latter's files.
	$(BIN)/python -m pip uninstall --quiet --yes crcmod
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall $$(grep -o '^crcmod-plus==[^ ]*' function/requirements.txt)
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
	$(MAKE) --no-print-directory complexity

# The complexity gate (radon): no function, method or class in function/ or ops/ above grade B
# (cyclomatic complexity > 10), no module in local/ with maintainability index grade C (< 10).
# Over the project's own sources (git's tracked and not-ignored files: never .venv, build/ or
# tests/). radon lists only the offenders, so any output fails.
COMPLEXITY_CC := git ls-files --cached --others --exclude-standard -- 'function/*.py' 'ops/*.py'
COMPLEXITY_MI := git ls-files --cached --others --exclude-standard -- 'local/*.py'
complexity: $(STAMP)
	@out="$$($(BIN)/radon cc --min C --show-complexity $$($(COMPLEXITY_CC)); \
	        $(BIN)/radon mi --min C --show $$($(COMPLEXITY_MI)))"; \
	if [ -n "$$out" ]; then \
	  printf '%s\n' "$$out"; \
	  echo "complexity gate: the functions (cc > 10) or local/ modules (MI < 10) above must be split" >&2; \
	  exit 1; \
	fi; echo "complexity gate: function/ and ops/ at grade B or better, local/ modules MI grade A/B"

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.day
	$(BIN)/python -m bench --markdown bench/RESULTS.md $(BENCH_ARGS)

# The production day under the API quota (simulated, plus one real-time check against the
# emulators): writes bench/RESULTS-day.md. BENCH_DAY_ARGS=--no-validate skips the real-time run.
bench-day: $(STAMP)
	$(BIN)/python -m bench.day $(BENCH_DAY_ARGS)

# The CI guard (< 1 min): fails when a figure regresses > 25% from bench/baseline.json.
bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

# The reliability and security suite (tests/reliability): prints the figures, fails on any loss,
# duplicate write, crash on fuzzed input or leaked secret.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.report $(PYTEST_ARGS)

# The code package FC runs: build/function/ and dist/alimt-result-collector.zip, built for
# CPython 3.12 manylinux x86_64 from function/requirements.lock (ops/package.py). Needs only a
# CPython 3.12 with pip, on any OS.
# A CPython 3.12: python3.12 on PATH, else pyenv's newest 3.12 (bytecode is version-specific).
PACKAGE_PYTHON ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
  PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep '^3\.12\.' | tail -1) \
  python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null)
package:
	@test -n "$(PACKAGE_PYTHON)" || { echo "make package needs CPython 3.12 (python3.12 on PATH, or PACKAGE_PYTHON=/path/to/python3.12)" >&2; exit 1; }
	$(PACKAGE_PYTHON) ops/package.py

# Re-resolve function/requirements.lock (the deployed closure, hashed) after editing
# function/requirements.txt. crcmod is left out: crcmod-plus provides its module.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --unsafe-package crcmod --strip-extras \
	  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
	  --output-file function/requirements.lock function/requirements.txt

# `s preview -t template.yml` with the real Serverless Devs CLI and a fake offline access:
# parses the template and resolves every variable (.ci/preview).
preview:
	.ci/preview

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
