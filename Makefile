# Two commands set everything up on a fresh machine: `make demo` (the main job) and `make test`.
# Each creates the local virtual environment .venv if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,synth,torch]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spelke demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" -p no:cacheprovider

test-all: $(STAMP)
	$(PY) -m pytest -q -n 2 -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/metrics.py

clean:
	rm -rf $(VENV) runs build dist src/*.egg-info
