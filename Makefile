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

# The e2e stack. STACK=standin|cloud (cloud needs REPO=PATH to a BoxLite checkout);
# FAULT="a b=0.5" passes stand-in faults. Paths and ports follow BOXLITE_E2E_ROOT and
# BOXLITE_E2E_*_PORT (lib/layout.py), so a second stack can be set up beside the first.
STACK ?= standin
.PHONY: test\:e2e\:setup test\:e2e\:standin
test\:e2e\:setup: setup ## Bring STACK (standin|cloud, REPO= for cloud) up: bootstrap + fixture_setup
	./bootstrap.sh --stack $(STACK) $(if $(REPO),--repo $(REPO)) $(foreach f,$(FAULT),--fault $(f))
	$(PY) fixture_setup.py --stack $(STACK)

test\:e2e\:standin: ## Set up the stand-in, then run cases/ on it with the path check on (results/)
	@$(MAKE) --no-print-directory test:e2e:setup STACK=standin
	BOXLITE_E2E_STACK=standin BOXLITE_E2E_SKIP_PATH_VERIFY=0 \
	  BOXLITE_E2E_RESULTS_DIR=$(CURDIR)/results $(PYTEST) cases
