# The two set-up commands are `make demo` and `make test`; both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint bench build serve clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

demo: $(STAMP)
	$(PY) -m builder demo --host $(HOST) --port $(PORT)

test: $(STAMP) node_modules/.installed
	$(PY) -m ruff check builder tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check builder tests benchmarks
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m benchmarks

build: $(STAMP)
	$(PY) -m builder build

serve: $(STAMP)
	$(PY) -m builder serve --host $(HOST) --port $(PORT) --ledger .data/ledger

clean:
	rm -rf site .cache build *.egg-info
