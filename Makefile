# Everything a fresh machine needs: `make test` sets up .venv and runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
# Tests and benchmarks run single-threaded: on a shared machine more threads mostly add jitter.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: install test test-fast lint bench clean

install: $(VENV)/.installed

# torch goes in first and pinned (constraints.txt keeps every later step from upgrading it and
# pulling gigabytes of CUDA wheels); then the package, editable, with its test extras.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	$(BIN)/python -c "import torch, crnn_ctc; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $@

test: install
	$(TEST_ENV) $(BIN)/python -m pytest

test-fast: install
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: install
	$(TEST_ENV) $(BIN)/python benchmarks/model_cost.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
