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

# The tests' files go to a RAM file system where there is one (/dev/shm): the same files, locks and
# SQLite WAL, without waiting on the disk for every commit's fsync.
test: $(STAMP)
	TMPDIR=$$(test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo "$${TMPDIR:-/tmp}") \
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
