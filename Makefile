# boxlite-e2e front door. `make help` lists every target with its one-line description
# (the text after `##`). Targets with a colon in their name are escaped (test\:e2e).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest

.PHONY: help setup test lint

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_\\:.-]+:.*## / {gsub(/\\/, "", $$1); printf "  %-24s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install Debian packages (sudo when not root) and the .venv; idempotent
	@./scripts/setup-host.sh

test: setup ## Run the harness self-tests (unit, pytester, integration on the stand-in)
	$(PYTEST) tests

lint: setup ## ruff + shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	shellcheck $$(git ls-files '*.sh' .ci/run)
