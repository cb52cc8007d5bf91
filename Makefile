# siamtrack: `make install` then `make test` (see README.md).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The read-only shared data and weights: $SIAMTRACK_SHARED, else ../shared beside the checkout.
SHARED ?= $(if $(SIAMTRACK_SHARED),$(SIAMTRACK_SHARED),$(abspath ../shared))
export SIAMTRACK_SHARED := $(SHARED)

.PHONY: install weights test test-fast bench clean

install:
	$(PIP) install torch==2.13.0
	$(PIP) install setuptools wheel
	$(PIP) install --no-build-isolation -e .[test]
	@$(MAKE) --no-print-directory weights

# Put the real NanoTrack checkpoints of the shared folder (when present) into the user cache,
# checked by loading them (siamtrack weights import); nothing is downloaded.
weights:
	@if [ -d "$(SHARED)/weights/nanotrack" ]; then \
	  for v in 1 2 3; do \
	    siamtrack weights import "$(SHARED)/weights/nanotrack/nanotrackv$$v.pth" --model nanotrack-v$$v || exit 1; \
	  done; \
	else echo "no $(SHARED)/weights/nanotrack: import weights with 'siamtrack weights import FILE --model M'"; fi

test:
	$(PYTHON) -m pytest tests -q

bench:
	$(PYTHON) -m siamtrack.benchmarks.speed_nanotrack

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
