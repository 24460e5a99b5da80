# `make search` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup data browser postgres search test test-all

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,onnx,postgres]'
	touch $@

setup: $(VENV)/.installed

data:
	bash scripts/get-data.sh

browser:
	bash scripts/get-browser.sh

postgres:
	bash scripts/get-postgres.sh

search: setup data
	$(PY) -m search.run --space attention.yaml

test: setup browser postgres
	$(PY) -m pytest -q --durations=10

test-all: setup data browser postgres
	$(PY) -m pytest -q -m ''
