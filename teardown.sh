#!/usr/bin/env bash
# Take the BoxLite stack of this layout down; idempotent, touches only its roots.
#
#   ./teardown.sh              stop and remove services, env files, configs, binaries
#   ./teardown.sh --wipe-data  ... and the data: database, registry storage, box state
#   ./teardown.sh --full       ... and the secrets file (next bootstrap mints new keys)
#
# Roots come from BOXLITE_E2E_ROOT (see lib/layout.py); the work is in lib/stack/teardown.py.
set -euo pipefail

main() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  cd "$here"
  exec "$here/scripts/harness-python.sh" -m lib.stack.teardown "$@"
}

main "$@"
