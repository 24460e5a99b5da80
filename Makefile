# `make search` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup data search test test-all

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

data:
	bash scripts/get-data.sh

search: setup data
	$(PY) -m search.run --space attention.yaml

test: setup
	$(PY) -m pytest -q

test-all: setup data
	$(PY) -m pytest -q -m ''
