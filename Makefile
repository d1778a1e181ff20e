# Calcinosis — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test check bench bench-service bench-screen clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP)

# The web service on http://127.0.0.1:8000 with the seed case preloaded; Ctrl-C stops it.
run: install
	$(BIN)/calcinosis serve --demo

check: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/python tools/check_tests_assert.py tests

test: check
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/bench_assess.py
	$(BIN)/python bench/bench_notes.py

bench-service: install
	$(BIN)/python bench/bench_service.py

# Builds a 1 M-patient export once (under the temp folder; several GB) and screens it.
bench-screen: install
	$(BIN)/python bench/bench_screen.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
