# make dev   — local control plane (etcd, kube-apiserver, kube-scheduler, kwok nodes) + the API on :8000
# make test  — lint, type-check and the whole test suite against a real local control plane
# make bench — benchmarks (bench/) against a local control plane of their own; ~6 min on 2 cores
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: install cluster dev test pytest lint format schema bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

cluster: install
	$(PY) -m devcluster build

dev: cluster
	$(PY) -m devcluster up --serve

test: lint cluster
	$(PY) -m pytest

pytest: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: cluster
	$(PY) -m bench

schema: install
	$(PY) -m app.graphql.export

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
