#!/usr/bin/env bash
# harness-python.sh ARGS...: run the harness's venv Python with ARGS (cwd unchanged).
#
# The one rule every entry point (bootstrap.sh, teardown.sh, two_sided.sh, fixture_setup.py)
# uses to find its interpreter: the venv is $VENV (as in the Makefile; relative to the
# harness root), default .venv; when it does not exist yet, `make setup` builds it first,
# with its output on stderr so a caller's stdout stays clean.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-.venv}
[[ $venv == /* ]] || venv=$root/$venv
if [[ ! -x $venv/bin/python ]]; then
  echo "harness: no venv at $venv yet; running make setup first" >&2
  make -C "$root" --no-print-directory setup VENV="$venv" >&2
fi
export BOXLITE_E2E_HARNESS_PYTHON=1 # fixture_setup.py: already re-executed, do not loop
exec "$venv/bin/python" "$@"
