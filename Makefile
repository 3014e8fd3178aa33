# Bootstraps everything a fresh machine needs: uv (installed with pip into .tools/ if missing),
# then the locked dependencies into .venv/. Nothing else has to be installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen --no-sync

.PHONY: setup demo test lint typecheck bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==0.13.9"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode
	touch .venv/.synced

setup: .venv/.synced

demo: setup
	$(RUN) fingpt demo

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: setup
	$(RUN) pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: setup
	$(RUN) ruff check orchestrator bot tests bench
	$(RUN) ruff format --check orchestrator bot tests bench

typecheck: setup
	$(RUN) mypy

clean:
	rm -rf .venv .tools var
