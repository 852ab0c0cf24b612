# Quick start: `make demo` and `make test`. Each sets up .venv on first use (needs python3).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test samples bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/incident demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

samples: $(STAMP)
	$(BIN)/python samples/generate.py

bench: $(STAMP)
	$(BIN)/python bench/bench_pull.py
	$(BIN)/python bench/bench_live.py
	$(BIN)/python bench/bench_notices.py
	$(BIN)/python bench/bench_watch.py

clean:
	rm -rf $(VENV) build dist *.egg-info
