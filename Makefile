# Everything a fresh machine needs: `make test` sets up .venv and runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
# Tests and benchmarks run single-threaded: on a shared machine more threads mostly add jitter.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: install test test-fast lint bench clean fonts fonts-md bench-synth demo pretrained browser qemu gpu-bundle tesseract bench-pages-data bench-pages

install: $(VENV)/.installed fonts browser qemu

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

# The first command of the README: the bundled model on the bundled samples, light. Its own venv holds
# the package installed from a wheel (not editable) with the core dependencies only, what inference needs:
# ONNX Runtime, no PyTorch, no fonts, no chromium. It runs from an empty temporary folder, on the samples
# inside the installed package, so it proves the wheel carries the model. Timed in the README.
DEMO_VENV ?= .venv-demo
DEMO_BIN := $(abspath $(DEMO_VENV))/bin
SAMPLES_OF_THE_WHEEL := from importlib.resources import files; print(files("crnn_ctc") / "assets" / "samples")

demo: $(DEMO_VENV)/.installed
	@cd "$$(mktemp -d)" && trap 'rm -rf "$$PWD"' EXIT && \
	samples="$$($(DEMO_BIN)/python -c '$(SAMPLES_OF_THE_WHEEL)')" && \
	echo "crnn predict $$samples (in $$PWD)" && \
	$(DEMO_BIN)/crnn predict "$$samples"

$(DEMO_VENV)/.installed: pyproject.toml $(shell find src -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*')
	$(PYTHON) -m venv $(DEMO_VENV)
	rm -rf build  # setuptools would pack stale files left there by an earlier build into the wheel
	$(DEMO_BIN)/pip install --quiet .
	touch $@

# Re-train the bundled model (docs/model_card.md); RESUME=1 continues an interrupted run.
pretrained: install
	bash scripts/train_pretrained.sh

clean:
	rm -rf $(VENV) $(DEMO_VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache

# Fonts for synthetic training data (docs/synthetic_data.md): Debian font packages and npm Fontsource
# packages (scripts/fonts/), listed in .fonts/manifest.tsv. apt-get needs root or passwordless sudo
# (skipped with a warning otherwise). Idempotent: about a second once everything is there.
fonts:
	PYTHON=$(PYTHON) bash scripts/install_fonts.sh

# Debian's chromium and its WebDriver, for the web page's test in a real browser (tests/serve/test_browser.py).
# apt-get needs root or passwordless sudo; without them it warns and that test is skipped. A no-op once installed.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	bash scripts/apt_install.sh browser --optional "the browser test will be skipped" chromium chromium-driver

# qemu-user, to run the int8 graphs under an emulated x86 CPU without VNNI (tests/runtime/test_int8_without_vnni.py):
# ONNX Runtime picks its int8 kernels by CPUID. Like browser: root or passwordless sudo, else the test is skipped.
qemu:
	@if command -v qemu-x86_64 >/dev/null; then exit 0; fi; \
	bash scripts/apt_install.sh qemu --optional "the no-VNNI test will be skipped" qemu-user

# FONTS.md: every font file with its family, style, source package and licence (committed).
fonts-md: fonts
	$(PYTHON) scripts/font_manifest.py --markdown FONTS.md

bench-synth: install fonts
	$(TEST_ENV) $(BIN)/python benchmarks/synth.py

# Tesseract 5 and its English model, for benchmarks/pages.py (not part of install or test). apt-get needs
# root or passwordless sudo; a no-op once `tesseract --version` works.
tesseract:
	@if tesseract --version >/dev/null 2>&1; then exit 0; fi; \
	bash scripts/apt_install.sh tesseract tesseract-ocr tesseract-ocr-eng

# The Debian documentation packages whose PDFs are benchmarks/pages.py's real pages (benchmarks/real_pages.py,
# SOURCES); a no-op once every one is there.
PAGE_PDF_PACKAGES := maint-guide developers-reference libtasn1-doc shared-mime-info fonts-texgyre
bench-pages-data:
	@if dpkg -s $(PAGE_PDF_PACKAGES) >/dev/null 2>&1; then exit 0; fi; \
	bash scripts/apt_install.sh bench-pages-data $(PAGE_PDF_PACKAGES)

# Our page reader against Tesseract on synthetic and real pages (docs/reading_pages.md, "Accuracy and speed").
bench-pages: install fonts tesseract bench-pages-data
	mkdir -p out && $(TEST_ENV) $(BIN)/python benchmarks/pages.py --out out/bench-pages.json

# What one-command GPU training needs on a machine with Python 3.12 and PyTorch but no network
# (docs/gpu_training.md): our wheel, the wheels that training needs except torch, a font subset, the
# word list. Checks it stays under 45 MiB. Then, there: bash $(BUNDLE)/train.sh $(BUNDLE) OUT
BUNDLE ?= .gpu-bundle
gpu-bundle: $(VENV)/.installed fonts
	$(BIN)/python scripts/gpu/make_bundle.py --out $(BUNDLE)
