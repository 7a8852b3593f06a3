# The two set-up commands are `make demo` and `make test`; both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

LOCK := requirements-test.lock
RUNTIME_LOCK := requirements.lock
UV_LOCK := requirements-uv.lock
UV := $(VENV)/bin/uv
# pyproject.toml's [build-system] requires: locked too, so installing the project fetches nothing unpinned
BUILD_REQUIRES := setuptools>=77
UV_COMPILE := echo '$(BUILD_REQUIRES)' | $(UV) pip compile pyproject.toml - --quiet --generate-hashes \
	--python-version 3.11 --no-header --annotation-style line

.PHONY: demo test lint lock bench build serve clean

# Installs exactly the locked versions (hash-checked), then the project itself without resolving anything. uv
# installs (pip would take minutes); uv itself comes first, hash-checked, from its own one-line lock.
# Bytecode is compiled at install, as pip does by default and uv does not: where PYTHONDONTWRITEBYTECODE is set
# (this machine, many CI images) every command would otherwise recompile pydantic, jinja2 & co. from source
# (~0.6 s of CPU per `python -m builder build`). The project's own modules too (a stale .pyc after an edit is
# ignored by Python, which then compiles that module in memory as before).
$(STAMP): pyproject.toml $(LOCK) $(UV_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(UV_LOCK)
	$(UV) pip install --quiet --python $(PY) --require-hashes --no-deps --compile-bytecode -r $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	PYTHONDONTWRITEBYTECODE= $(PY) -m compileall -q builder
	touch $(STAMP)

# After changing dependencies in pyproject.toml: re-resolve both locks (the newest versions the ranges admit)
# and commit them with the change. The runtime lock (the workflows') is constrained to the test lock's versions.
lock: $(STAMP)
	$(UV_COMPILE) --extra test -o $(LOCK)
	$(UV_COMPILE) --constraint $(LOCK) -o $(RUNTIME_LOCK)
	echo uv | $(UV) pip compile - --quiet --generate-hashes --python-version 3.11 --no-header \
		--annotation-style line --constraint $(LOCK) -o $(UV_LOCK)
	$(UV) pip install --quiet --python $(PY) --require-hashes --no-deps --compile-bytecode -r $(LOCK)
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

demo: $(STAMP)
	$(PY) -m builder demo --host $(HOST) --port $(PORT)

test: $(STAMP) node_modules/.installed
	$(PY) -m ruff check builder tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m tests.support.lock
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
