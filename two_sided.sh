#!/usr/bin/env bash
# two_sided.sh PR_REF=ref REPO=path CASES='selection' [MAIN_REF=main] [REPEAT=N] [KEY=VALUE...]
#
# Does the regression case fail on MAIN_REF and pass on PR_REF? Exit codes follow
# `git bisect run`: 0 fixed, 1 still fails on PR, 2 not detected on main, 125 a side could
# not be built or brought up; 128 usage/harness error, 128+N interrupted by signal N.
# `./two_sided.sh --help` lists every setting; README "Two-sided verification" explains.
#
# Thin on purpose: all logic (worktrees, builds, swaps, interleaving, statistics, restore)
# is lib/proof/two_sided.py, which is tested. We `exec` it, so it receives SIGINT/SIGTERM itself,
# restores the original build, and its exit code is ours: no shell EXIT trap can overwrite
# the verdict (the upstream script's did, so it always exited 0).
set -euo pipefail

main() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  # Relative paths in the arguments (REPO=., RESULTS_DIR=...) are the caller's.
  export BOXLITE_E2E_CALLER_CWD=$PWD
  cd "$root"
  exec "$root/scripts/harness-python.sh" -m lib.proof.two_sided "$@"
}

main "$@"
