# The two commands of the README:
#   make run    set up .venv and run the pipeline on seeds/ with configs/local.yaml (writes output/)
#   make test   set up .venv with the test extras and run the test suite
# and for developers:
#   make lint   ruff (lint and format check) and mypy, as .ci/run runs them before the tests
#   make format apply ruff's formatting and safe fixes
#   make model  train the shipped event classifier again on corpora/events
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/local.yaml

.PHONY: run test lint format bench model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Each stamp is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/newsbeam run --config $(CONFIG)

# Two test processes; TEST_WORKERS=0 runs the suite in one (each worker loads spaCy: ~1 GB).
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench,dask,postgres]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.entities_speed
	$(BIN)/python -m bench.feeds
	$(BIN)/python -m bench.neardup
	$(BIN)/python -m bench.dedup_speed
	$(BIN)/python -m bench.postgres_load
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.versus_script
	$(BIN)/python -m bench.parse_need
	$(BIN)/python -m bench.event_classifier

# The event classifier newsbeam ships, trained again on corpora/events (`newsbeam train events`).
model: $(VENV)/.installed
	$(BIN)/newsbeam train events corpora/events --out transforms/events/model

clean:
	rm -rf $(VENV) output *.egg-info
