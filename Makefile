# Every install step lives here: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU build from local disk first, so nothing pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/datacheck demo demo-out
	# the same data through the DVC pipeline: prepare -> audit -> clean -> train -> evaluate
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro
	$(VENV)/bin/dvc metrics show reports/eval/metrics.json

# The suite on every core (pytest-xdist, one worker a CPU; PYTEST_WORKERS=0 runs it in one
# process; PYTEST_ARGS="-m 'not slow'" leaves out the tests that train models or run DVC).
# --dist loadgroup: tests that share an expensive fixture (a trained model, a DVC repository)
# carry one xdist_group, so one worker builds it once (tests/conftest.py).
PYTEST_WORKERS ?= auto
PYTEST_ARGS    ?=
test: $(STAMP) chromium
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Chromium for the browser tests (the HTML report, the diff page, the review page): installed
# with apt-get when none is on PATH and this is root; otherwise one warning line, and those
# tests skip saying why.
CHROMIUM_NAMES := chromium chromium-browser google-chrome google-chrome-stable
.PHONY: chromium
chromium:
	@for name in $(CHROMIUM_NAMES); do command -v $$name >/dev/null 2>&1 && exit 0; done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the browser tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && \
	      apt-get install -y -qq chromium >/dev/null 2>&1; }; } || \
	  echo "warning: apt-get install chromium failed: the browser tests will be skipped"; \
	else \
	  echo "warning: no Chromium on PATH and not root to install it: the browser tests will be skipped"; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check datacheck tests benchmarks pipelines

clean:
	rm -rf demo-out .pytest_cache .ruff_cache

# --- benchmarks: scripts that time datacheck against peer tools in one run ----------------------
# Figures and the exact commands: benchmarks/README.md. imagededup gets its own venv because its
# requirements name torch + torchvision, and the project's CPU torch must stay as it is. The peer
# venv sees the project venv's packages through a .pth file and adds only imagededup, with
# --no-deps: its PHash and search code need numpy, scipy, Pillow, PyWavelets, scikit-learn and
# tqdm, which the project venv has. (PyPI's torchvision 0.28 cannot load next to a CPU torch, so
# benchmarks/_peers.py imports imagededup's hashing module without the package __init__ files
# that import the CNN and plotting code.)
PEERS       := benchmarks/.venv-peers
PEERS_STAMP := $(PEERS)/.installed
BENCH_ARGS  ?=

.PHONY: bench-deps bench-hashing bench-search bench-small bench-e2e bench-formats

$(PEERS_STAMP): $(STAMP)
	# the [bench] extra: faiss-cpu, the exact-search peer of benchmarks/search.py
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m venv $(PEERS)
	$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > \
	  "$$($(PEERS)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/project-venv.pth"
	$(PEERS)/bin/python -m pip install --quiet --no-deps imagededup==0.3.3.post2
	$(PEERS)/bin/python benchmarks/_peers.py check
	touch $@

bench-deps: $(PEERS_STAMP)

bench: bench-hashing bench-search bench-small

bench-hashing: bench-deps
	$(PY) benchmarks/hashing.py $(BENCH_ARGS)

bench-search: bench-deps
	$(PY) benchmarks/search.py $(BENCH_ARGS)

bench-small: $(STAMP)
	$(PY) benchmarks/small_images.py $(BENCH_ARGS)

bench-e2e: bench-deps
	$(PY) benchmarks/e2e.py $(BENCH_ARGS)

bench-formats: $(STAMP)
	$(PY) benchmarks/formats.py $(BENCH_ARGS)

# The image-quality peers (benchmarks/quality.py) pin their own numpy, Pillow and OpenCV: a venv
# of their own, with nothing from the project's.
QUALITY_PEERS := benchmarks/.venv-quality
.PHONY: bench-quality
$(QUALITY_PEERS)/.installed:
	$(PYTHON) -m venv $(QUALITY_PEERS)
	$(QUALITY_PEERS)/bin/python -m pip install --quiet cleanvision==0.3.7 fastdup==2.54
	touch $@

bench-quality: $(STAMP) $(QUALITY_PEERS)/.installed
	$(PY) benchmarks/quality.py --peer-python $(QUALITY_PEERS)/bin/python $(BENCH_ARGS)

# --- the GPU run (benchmarks/gpu.sh): what travels to a lent GPU machine ------------------------
# Its python3 (3.12) has torch, numba, pandas, scikit-learn, pyarrow, Pillow; cleanlab, imagehash
# and PyWavelets travel as wheels, CIFAR-10 test as files (both ignored by git).
.PHONY: gpu-prep
gpu-prep: $(STAMP)
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl cleanlab==2.9.0 ImageHash==4.3.2 PyWavelets==1.9.0
	rm -rf .gpu-data && mkdir -p .gpu-data && cp -r ../shared/datasets/cifar10-test .gpu-data/
