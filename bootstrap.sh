#!/usr/bin/env bash
# Bring a BoxLite stack up on this host, idempotently; a warm re-run changes nothing.
#
#   ./bootstrap.sh --stack standin [--fault NAME[=P]]... [--only STEP,...] [--dry-run]
#   ./bootstrap.sh --stack cloud --repo PATH [--sdk-from-pypi] [--only STEP,...] [--dry-run]
#   ./bootstrap.sh --stack cloud --repo PATH --preflight   # can this host run it? changes nothing
#
# Roots and ports come from BOXLITE_E2E_ROOT and BOXLITE_E2E_{API,RUNNER,REGISTRY,POSTGRES,
# REDIS}_PORT (see lib/layout.py). The steps live in lib/stack/bootstrap/; this script only finds
# the harness's Python and hands the arguments over.
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

harness_python() {
  local here=$1
  if [[ ! -x $here/.venv/bin/python ]]; then
    echo "bootstrap: no $here/.venv yet; running make setup first" >&2
    make -C "$here" --no-print-directory setup >&2
  fi
  printf '%s\n' "$here/.venv/bin/python"
}

main() {
  local here python
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  case "${1:-}" in
    -h | --help)
      usage
      "$(harness_python "$here")" -m lib.stack.bootstrap --help
      return 0
      ;;
  esac
  python=$(harness_python "$here")
  cd "$here"
  exec "$python" -m lib.stack.bootstrap "$@"
}

main "$@"
