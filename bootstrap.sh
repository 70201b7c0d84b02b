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

main() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  case "${1:-}" in
    -h | --help)
      usage
      "$here/scripts/harness-python.sh" -m lib.stack.bootstrap --help
      return 0
      ;;
  esac
  cd "$here"
  exec "$here/scripts/harness-python.sh" -m lib.stack.bootstrap "$@"
}

main "$@"
