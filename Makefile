# siamtrack: `make install` then `make test` (see README.md).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The read-only shared data and weights: $SIAMTRACK_SHARED, else ../shared beside the checkout.
SHARED ?= $(if $(SIAMTRACK_SHARED),$(SIAMTRACK_SHARED),$(abspath ../shared))
export SIAMTRACK_SHARED := $(SHARED)

.PHONY: install weights x11-tools vot-toolkit test test-fast bench clean

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

# Two pytest workers (pytest-xdist), whole test files per worker so module-scoped models are built once.
TEST_WORKERS ?= 2
test:
	$(PYTHON) -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile

bench:
	$(PYTHON) -m siamtrack.benchmarks.speed_nanotrack

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
