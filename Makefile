# Quick start: `make demo` and `make test`. Each sets up .venv on first use (needs python3).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-later samples bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/incident demo

# The tests' files go to a RAM file system where there is one (/dev/shm): the same files, locks and
# SQLite WAL, without waiting on the disk for every commit's fsync. Compiled modules are kept even
# where PYTHONDONTWRITEBYTECODE is set: each `incident` a test starts would compile incident again.
# One worker more than there are cores: many tests wait on servers and processes of their own, and
# the extra worker runs while they wait.
test: $(STAMP)
	TMPDIR=$$(test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo "$${TMPDIR:-/tmp}") \
		PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q \
		-n $$($(BIN)/python -c 'import os; print(len(getattr(os, "sched_getaffinity", lambda _: range(os.cpu_count()))(0)) + 1)')

# The same suite a year from today (tests/later.py moves the wall clock of the tests and of the
# runs they fork): a test that holds only on the day it was written fails here, not next month.
test-later: $(STAMP)
	INCIDENT_TESTS_DAYS_AHEAD=365 $(MAKE) --no-print-directory test

samples: $(STAMP)
	$(BIN)/python samples/generate.py

bench: $(STAMP)
	$(BIN)/python bench/bench_pull.py
	$(BIN)/python bench/bench_live.py
	$(BIN)/python bench/bench_notices.py
	$(BIN)/python bench/bench_watch.py

clean:
	rm -rf $(VENV) build dist *.egg-info
