# boxlite-e2e front door. `make help` lists every target with its one-line description
# (the text after `##`). Targets with a colon in their name are escaped (test\:e2e).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest

.PHONY: help setup test lint

help: ## Show this help
	@awk '/^([a-zA-Z0-9_.-]|\\:)+:.*## / { match($$0, /^([a-zA-Z0-9_.-]|\\:)+:/); \
	  name = substr($$0, 1, RLENGTH - 1); gsub(/\\/, "", name); \
	  desc = $$0; sub(/^[^#]*## /, "", desc); printf "  %-24s %s\n", name, desc }' $(MAKEFILE_LIST)

setup: ## Install Debian packages (sudo when not root) and the .venv; idempotent
	@./scripts/setup-host.sh

# Serial: on 2 cores two workers made the reduced matrix slower (740 s against ~430 s) and
# the run no shorter (15.5 min either way), and timing-bound drills flakier.
test: setup ## Run the harness self-tests (unit, pytester, integration on the stand-in)
	$(PYTEST) tests --durations=10

.PHONY: test\:fast
test\:fast: setup ## The fast loop: self-tests that start no service (-m "not stack", ~30 s)
	$(PYTEST) tests -m "not stack"

lint: setup ## ruff + import-linter (lib/ tiers) + shellcheck + actionlint (GitHub workflows)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	shellcheck $$(git ls-files '*.sh' .ci/run)
	$(VENV)/bin/actionlint

# Two-sided verification: the settings are passed through the environment (make exports
# command-line variables), so `make test:e2e:two-sided PR_REF=x REPEAT=5` is the same as
# `./two_sided.sh PR_REF=x REPEAT=5`. The guard runs before setup, so a missing PR_REF
# fails at once with the reason.
.PHONY: test\:e2e\:two-sided .require-pr-ref
test\:e2e\:two-sided: .require-pr-ref setup ## Fails on MAIN_REF, passes on PR_REF? PR_REF= REPO= CASES= [REPEAT=N]
	./two_sided.sh

.require-pr-ref:
	@[[ -n "$(PR_REF)" ]] || { echo "make test:e2e:two-sided: PR_REF is required, e.g." \
	  "make test:e2e:two-sided PR_REF=fix-563 REPO=~/ws/boxlite" \
	  "CASES=cases/test_p0_6_exec_stdout_race.py REPEAT=5 (see ./two_sided.sh --help)" >&2; exit 2; }

# The e2e stack. STACK=standin|cloud (cloud needs REPO=PATH to a BoxLite checkout);
# FAULT="a b=0.5" passes stand-in faults. Paths and ports follow BOXLITE_E2E_ROOT and
# BOXLITE_E2E_*_PORT (lib/layout.py), so a second stack can be set up beside the first.
STACK ?= standin
.PHONY: test\:e2e\:setup test\:e2e\:standin preflight
preflight: setup ## Can this host run the cloud stack? REPO= checkout; checks only, changes nothing
	./bootstrap.sh --stack cloud --preflight $(if $(REPO),--repo $(REPO))

test\:e2e\:setup: setup ## Bring STACK (standin|cloud, REPO= for cloud) up: [preflight] bootstrap + fixture_setup
	$(if $(filter cloud,$(STACK)),./bootstrap.sh --stack cloud --preflight $(if $(REPO),--repo $(REPO)))
	./bootstrap.sh --stack $(STACK) $(if $(REPO),--repo $(REPO)) $(foreach f,$(FAULT),--fault $(f))
	$(PY) fixture_setup.py --stack $(STACK)

test\:e2e\:standin: ## Set up the stand-in, then run cases/ on it with the path check on (results/)
	@$(MAKE) --no-print-directory test:e2e:setup STACK=standin
	BOXLITE_E2E_STACK=standin BOXLITE_E2E_SKIP_PATH_VERIFY=0 \
	  BOXLITE_E2E_RESULTS_DIR=$(CURDIR)/results $(PYTEST) cases

# The suite against whatever stack is up (make test:e2e:setup first). STACK is passed on
# only when given (command line or environment); otherwise lib/config resolves the stack.
.PHONY: test\:e2e
test\:e2e: setup ## Run cases/ on the stack that is up (path check on); results/ (JUnit, summary)
	$(if $(filter-out file,$(origin STACK)),BOXLITE_E2E_STACK=$(STACK)) \
	  BOXLITE_E2E_RESULTS_DIR=$(CURDIR)/results $(PYTEST) cases

# What the netfault proxy costs (lib/proof/bench_netfault.py): exec round trip through a
# `transparent` proxy vs straight to the API of the stack that is up, interleaved.
BENCH_EXECS ?= 60
.PHONY: bench\:netfault
bench\:netfault: setup ## Print the netfault proxy's overhead: exec round trip via transparent proxy vs direct
	$(PY) -m lib.proof.bench_netfault --execs $(BENCH_EXECS)
# Sweep: remove the boxes of runs that are provably dead (their liveness lock is held by no
# process); boxes of live runs and foreign boxes are reported, never touched. API only.
.PHONY: sweep
sweep: setup ## Remove boxes of dead e2e runs on the stack (live/foreign: reported) [SWEEP_ARGS=--dry-run]
	$(PY) -m lib.harness.sweep $(SWEEP_ARGS)

# The mutation matrix (lib/proof/mutation_matrix.py): on a private stand-in (temporary root, free
# ports), the catalogue clean and once per fault, then the racy fault's pinned case
# MATRIX_REPEAT times at each probability. Not part of `make test` (which runs a reduced
# matrix): the full one takes about 10 minutes on 2 cores.
MATRIX_REPEAT ?= 20
.PHONY: mutation-matrix
mutation-matrix: setup ## Catalogue vs every stand-in fault + racy detection rates [MATRIX_REPEAT=20]
	$(PY) -m lib.proof.mutation_matrix --repeat $(MATRIX_REPEAT) --markdown $(MATRIX_ARGS)
