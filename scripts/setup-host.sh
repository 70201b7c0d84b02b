#!/usr/bin/env bash
# Idempotent host setup for the harness: the Debian packages the stand-in stack and the
# self-tests need, then the project venv. Safe to re-run; does nothing when all is present.
set -euo pipefail

readonly DEBIAN_PACKAGES=(
  bubblewrap busybox-static docker-registry skopeo umoci supervisor util-linux tar git
  slirp4netns iptables mmdebstrap debian-archive-keyring
  systemd-journal-remote libsystemd-dev pkg-config gcc python3-dev python3-venv shellcheck
  curl ca-certificates
  postgresql redis-server
)
# Node for the SDK axis's Node driver: Debian's, only when the host has no node/npm yet (a
# NodeSource nodejs ships its own npm and conflicts with Debian's npm package).
readonly NODE_PACKAGES=(nodejs npm)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

install_packages() {
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    echo "setup: Debian packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  # Keep package post-install scripts from starting services: Debian's docker-registry
  # would listen on *:5000 and redis on 6379. The harness starts what it needs itself, on
  # loopback only. policy-rc.d exit 101 = "action forbidden" for invoke-rc.d and
  # deb-systemd-invoke; we only add it when the host has none, and always remove ours.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 0755 "$policy"
    ours=1
    # shellcheck disable=SC2064  # expand now: the path is fixed
    trap "as_root rm -f '$policy'" EXIT
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  ((ours)) && as_root rm -f "$policy"
  return "$rc"
}

make_venv() {
  local venv=$1 python=${PYTHON:-python3} stamp
  stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [[ -f $stamp ]]; then
    echo "setup: $venv up to date"
    return
  fi
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e .
  rm -f "$venv"/.installed-*
  touch "$stamp"
  echo "setup: $venv ready"
}

install_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then
    echo "setup: node $(node --version) and npm $(npm --version) present"
    return
  fi
  echo "setup: installing ${NODE_PACKAGES[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${NODE_PACKAGES[@]}" >/dev/null
}

# The Node SDK driver's pinned packages (drivers/node/package-lock.json), for the SDK axis.
# `npm ci` installs exactly the lockfile. A registry that lacks some platform's optional
# native package (a mirror without the darwin/arm64 builds) yields a lockfile without them,
# which `npm ci`'s sync check refuses; then `npm install --no-save` installs the same locked
# versions (integrity-checked, lockfile untouched). Either way the installed versions are
# checked against the lockfile. Re-run only when the lockfile changed.
readonly CHECK_LOCK='const l = require("./package-lock.json");
for (const [p, v] of Object.entries(l.packages)) {
  if (!p) continue;
  let got; try { got = require("./" + p + "/package.json").version; }
  catch { if (v.optional) continue; throw new Error(p + " is not installed"); }
  if (got !== v.version) throw new Error(p + " " + got + " != locked " + v.version);
}'

node_driver() {
  local dir=drivers/node stamp
  if [[ -L $dir/node_modules/@boxlite-ai/boxlite ]]; then
    # The cloud bootstrap linked the checkout's SDK here (lib/stack/bootstrap/cloud_sdks.py):
    # the suite must test that build, so the npm release does not replace it.
    echo "setup: $dir uses the Node SDK built from $(readlink -f "$dir/node_modules/@boxlite-ai/boxlite")"
    return
  fi
  stamp="$dir/node_modules/.installed-$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
  if [[ -f $stamp ]]; then
    echo "setup: $dir/node_modules up to date"
    return
  fi
  (
    cd "$dir"
    npm ci --no-audit --no-fund --loglevel=silent >/dev/null 2>&1 \
      || npm install --no-save --no-audit --no-fund --loglevel=error
    node -e "$CHECK_LOCK"
  )
  touch "$stamp"
  echo "setup: $dir/node_modules ready (the versions in package-lock.json)"
}

main() {
  cd "$(dirname "$0")/.."
  install_packages
  make_venv "${VENV:-.venv}"
  install_node
  node_driver
}

main "$@"
