# flopbench: `make bench` measures this machine, `make test` runs the tests.
# Everything is installed into the project's own virtual environment ($(VENV)).

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
# Which torch build to install when the environment has none: with an NVIDIA driver present, the
# registry's default (CUDA) build; otherwise torch==2.13.0, a CPU wheel these machines keep on disk.
# Override with e.g. `make bench TORCH='torch==2.5.1'`.
TORCH  ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
STAMP  := $(VENV)/.flopbench-installed

.PHONY: install test bench bench-distributed plot report compare clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e ".[dev]"
	@$(PY) -c "import shutil, torch; shutil.which('nvidia-smi') and not torch.cuda.is_available() and print('flopbench: warning: nvidia-smi is here but torch', torch.__version__, 'sees no GPU (a driver older than its CUDA?): make bench will measure the CPU; install a matching wheel, e.g. make bench TORCH=...')"
	touch $(STAMP)

# The test command: lint and format check, type check, then the tests.
test: $(STAMP)
	$(PY) -m ruff check flopbench tests benchmarks
	$(PY) -m ruff format --check flopbench tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q --durations=15

# Extra options for `make bench`, e.g. make bench BENCH_ARGS='--device cuda:1 --tf32'
BENCH_ARGS ?=
SUITE      ?= default

bench: $(STAMP)
	$(VENV)/bin/flopbench run $(SUITE) --device auto --report $(BENCH_ARGS)

# Every rank runs the suite on its own device at once (one per GPU, or CPU processes with gloo); rank 0 writes
# one results file. NPROC processes on this machine; for several machines see README.md.
NPROC ?= 2
DIST_SUITES ?= $(SUITE) comm

bench-distributed: $(STAMP)
	$(VENV)/bin/torchrun --standalone --nproc-per-node $(NPROC) -m flopbench run $(DIST_SUITES) --distributed --report $(BENCH_ARGS)

# plot and report work on RESULTS, by default the newest run in results/.
RESULTS ?= $(shell ls -t results/*.jsonl 2>/dev/null | head -n 1)

plot: $(STAMP)
	@test -n "$(RESULTS)" || { echo "make plot: no results/*.jsonl yet; run make bench first" >&2; exit 2; }
	$(VENV)/bin/flopbench plot $(RESULTS)

report: $(STAMP)
	@test -n "$(RESULTS)" || { echo "make report: no results/*.jsonl yet; run make bench first" >&2; exit 2; }
	$(VENV)/bin/flopbench report $(RESULTS)

compare: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "make compare: name two runs: make compare A=results/a.jsonl B=results/b.jsonl" >&2; exit 2; }
	$(VENV)/bin/flopbench compare $(A) $(B) --out results/compare

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
