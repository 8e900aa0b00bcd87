# recording-operator: `make demo` runs the main job on the sandbox; `make test` installs and runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
N ?= 200

.PHONY: install ffmpeg demo test lint typecheck crds bench sandbox clean

install: $(STAMP) ffmpeg

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's ffmpeg (the recorder and its tests need it): installed when missing and we are root.
ffmpeg:
	@if command -v ffmpeg >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's ffmpeg"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null) \
	    || { echo "apt-get could not install ffmpeg"; exit 1; }; \
	else \
	  echo "ffmpeg is missing: install it (e.g. 'sudo apt-get install ffmpeg') and run make again"; exit 1; \
	fi

demo: install
	$(PY) -m recording_operator demo

sandbox: install
	$(PY) -m recording_operator sandbox --state-dir .sandbox --with-operator

crds: $(STAMP)
	$(PY) -m recording_operator crds --output crds

lint: $(STAMP)
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: install lint typecheck
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: install
	$(PY) bench/cloudrecording_bench.py --count $(N)

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache
