# `make search` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

LATEST := .venv-latest
EXTRAS := test,onnx,postgres

.PHONY: setup data browser postgres search test test-all test-latest lock

# Every install takes the exact versions (and hashes) of requirements.lock, so a fresh
# machine next month gets what CI tested; the project itself goes in without dependencies.
$(VENV)/.installed: requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
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

# The newest versions pyproject.toml allows, in a throwaway venv: what the next lock refresh
# would bring. A failure here means: fix the code, or narrow the range in pyproject.toml.
test-latest: browser postgres
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet -e '.[$(EXTRAS)]'
	grep -oE '^[A-Za-z0-9._-]+==[^ ]+' requirements.lock > $(LATEST)/locked.txt
	@echo "test-latest: versions newer than requirements.lock:"
	@$(LATEST)/bin/python -m pip freeze --exclude-editable | tr '_' '-' | grep -ivxF -f $(LATEST)/locked.txt || true
	$(LATEST)/bin/python -m pytest -q -p no:cacheprovider; rc=$$?; rm -rf $(LATEST); exit $$rc

# Refresh requirements.lock from pyproject.toml (pip-tools, in a throwaway venv).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet 'pip-tools>=7.4,<8'
	.venv-lock/bin/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --extra test --extra onnx --extra postgres \
	  --output-file requirements.lock pyproject.toml
	rm -rf .venv-lock
