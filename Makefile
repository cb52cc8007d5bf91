# siamtrack: `make install` then `make test` (see README.md).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The read-only shared data and weights: $SIAMTRACK_SHARED, else ../shared beside the checkout.
SHARED ?= $(if $(SIAMTRACK_SHARED),$(SIAMTRACK_SHARED),$(abspath ../shared))
export SIAMTRACK_SHARED := $(SHARED)

.PHONY: install weights x11-tools vot-toolkit test test-fast bench demo clean

install:
	$(PIP) install torch==2.13.0
	$(PIP) install setuptools wheel
	$(PIP) install --no-build-isolation -e .[test]
	@$(MAKE) --no-print-directory weights
	@$(MAKE) --no-print-directory x11-tools
	@$(MAKE) --no-print-directory vot-toolkit

# The official VOT toolkit (GPLv3, test-only, never imported by siamtrack) in its own virtual environment
# .vot-venv/ (git-ignored): tests/test_trax.py drives .vot-venv/bin/vot. vot-toolkit 0.9.0 needs
# attributee 0.1.9 on Python 3.11 (0.1.10 breaks its import). When it cannot be installed those tests are
# skipped and say why.
VOT_VENV ?= .vot-venv
vot-toolkit:
	@if [ -x "$(VOT_VENV)/bin/vot" ] && "$(VOT_VENV)/bin/vot" --help >/dev/null 2>&1; then :; \
	elif $(PYTHON) -m venv "$(VOT_VENV)" && "$(VOT_VENV)/bin/pip" install -q vot-toolkit==0.9.0 attributee==0.1.9 \
	  && "$(VOT_VENV)/bin/vot" --help >/dev/null 2>&1; then echo "installed the VOT toolkit in $(VOT_VENV)/"; \
	else echo "warning: could not install vot-toolkit 0.9.0 in $(VOT_VENV)/: the VOT toolkit tests will be skipped"; fi

# Xvfb and xdotool for the live-window tests (tests/test_live.py), from Debian's packages when missing;
# without them (no apt-get, no network) those tests are skipped and say why.
x11-tools:
	@if command -v Xvfb >/dev/null && command -v xdotool >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  { $$SUDO apt-get install -y --no-install-recommends xvfb xdotool \
	    || { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends xvfb xdotool; }; } >/dev/null 2>&1 \
	  && echo "installed xvfb and xdotool (live-window tests)" \
	  || echo "could not install xvfb and xdotool with apt-get: the live-window tests will be skipped"; \
	else echo "no Xvfb/xdotool and no apt-get: the live-window tests will be skipped"; fi

# Put the real NanoTrack checkpoints and CFNet networks (colour and _gray) of the shared folder (when
# present) into the user cache, checked by loading them (siamtrack weights import); nothing is downloaded.
weights:
	@if [ -d "$(SHARED)/weights/nanotrack" ]; then \
	  for v in 1 2 3; do \
	    siamtrack weights import "$(SHARED)/weights/nanotrack/nanotrackv$$v.pth" --model nanotrack-v$$v || exit 1; \
	  done; \
	else echo "no $(SHARED)/weights/nanotrack: import weights with 'siamtrack weights import FILE --model M'"; fi
	@if [ -d "$(SHARED)/weights/cfnet" ]; then \
	  for v in 1 2; do for f in "$(SHARED)"/weights/cfnet/cfnet-conv$${v}_*.mat; do \
	    siamtrack weights import "$$f" --model cfnet-conv$$v || exit 1; \
	  done; done; \
	else echo "no $(SHARED)/weights/cfnet: import the CFNet .mat files with 'siamtrack weights import FILE --model cfnet-conv2'"; fi

# Installs what is missing (the package, its dependencies, the test tools), then runs the main job: NanoTrack on
# ../shared/data/videos/bag.avi from its first ground-truth box (VOT polygon -> pysot's axis-aligned box),
# writing demo.mp4 (boxes drawn) and demo.txt (one x,y,w,h line per frame).
DEMO_VIDEO ?= $(SHARED)/data/videos/bag.avi
DEMO_GT ?= $(SHARED)/data/vot/bag/groundtruth.txt
demo:
	@$(PYTHON) -c "import siamtrack.cli, openvino" 2>/dev/null || $(MAKE) --no-print-directory install
	@box=$$($(PYTHON) -c "from siamtrack.boxes import axis_aligned_init_box as a, read_boxes as r; \
	print(','.join('%.3f' % v for v in a(r('$(DEMO_GT)')[0])))") && \
	$(PYTHON) -m siamtrack.cli run "$(DEMO_VIDEO)" --model nanotrack --init "$$box" --no-show \
	  --output demo.mp4 --save-boxes demo.txt && echo "siamtrack: wrote $(CURDIR)/demo.mp4 and $(CURDIR)/demo.txt"

# Two pytest workers (pytest-xdist), whole test files per worker so module-scoped models are built once.
TEST_WORKERS ?= 2
test:
	@$(PYTHON) -c "import siamtrack.cli, pytest, xdist, openvino, onnxruntime" 2>/dev/null \
	  || $(MAKE) --no-print-directory install
	$(PYTHON) -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile

# Unit tests on tiny tensors and small inputs (cross-correlation core, heads, measures, sinks, messages, output
# protection, backend choice): seconds, no whole tracking runs.
FAST_TESTS = tests/test_xcorr.py tests/test_sinks.py tests/test_bench_measures.py tests/test_bench_overlap.py \
	tests/test_messages.py tests/test_protect_inputs.py tests/test_lost.py
test-fast:
	$(PYTHON) -m pytest $(FAST_TESTS) -q -n $(TEST_WORKERS) -k "not cli and not hostile" \
	  $(if $(wildcard tests/test_backends.py),--deselect tests/test_backends.py,)

# The speed benchmark (benchmarks/speed.py): every preset x backend x precision at 1 and 2 threads, side by side
# in alternating rounds in one run, beside cv2.TrackerNano (NanoTrack v2) and, with PYSOT=DIR (a checkout of
# STVIR/pysot, outside the repository), pysot's own trackers; then the time to first frame (cold / warm graph
# cache). About 15 minutes on 2 cores. BENCH_ARGS="--quick" for a quick look, BENCH_ARGS="--json speed.json".
PYSOT ?=
BENCH_ARGS ?=
bench:
	$(PYTHON) -m siamtrack.benchmarks.speed $(if $(PYSOT),--pysot "$(PYSOT)",) $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
