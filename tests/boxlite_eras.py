"""Synthetic BoxLite checkouts, one per upstream era, and recording build-tool stand-ins.

Why this exists: the cloud build follows the checkout's era (lib/stack/checkout.py), and no
real checkout or toolchain is on this machine. Each era here carries exactly the files that
decide the build, in the shape upstream had them (read in boxlite-ai/boxlite):

- `sandbox` (Daytona-era API, e.g. commits 68e7aec/fba3bb9): snapshot routes under
  `apps/api/src/sandbox/`, `app.service.ts` seeding transient/internal registries,
  `api-key.strategy.ts` with `getOrThrow('sshGateway.apiKey')`, the non-admin quota DTO,
  the Go SDK linking `${SRCDIR}/libboxlite.a` with no build tag, Yarn 1, a committed
  `yarn.lock`, four submodules, no runner embed dir.
- `pkg-dev` (commit f39e20c era): `sdks/go/pkg/boxlite/bridge_cgo_dev.go` (`boxlite_dev`,
  `target/debug/libboxlite.a`) beside `bridge_cgo_prebuilt.go`, `fix-go-symbols.sh`,
  `packageManager: yarn@4.x` with no `yarn.lock`, the runner's `//go:embed static/*`,
  snapshot routes under `apps/api/src/box/`, the admin quota DTO.
- `catalog` (newest, commits 1e60a94/07a9c80): only `sdks/go/bridge_cgo_prebuilt.go`
  (`!boxlite_dev`, `lib/linux-x64-gnu/libboxlite.a`), the image catalog module and no
  snapshot controller, `yarn@4.13.0` with a lockfile, daemon and computer-use assets, and
  the Go SDK's module file and REST runtime (`sdks/go/go.mod`, `sdks/go/rest.go` with
  `BoxliteRestOptions`, commit 46d5599), which the Go driver's build reads.

The stand-ins (`cargo`, `go`, `yarn`, `corepack`, `rustup`, `llvm-objcopy`, `git`) record
their argv and working dir as JSON lines and do the one side effect later steps rely on
(cargo writes `target/<profile>/libboxlite.a`, go writes its `-o`), and fail the way the
real tool does where a wrong plan would: `go build ./cmd/runner` without the embedded
assets, the Go driver's `go build .` when `ERAS_GO_DRIVER_FAIL=1` (a compile error),
`yarn install --frozen-lockfile` on Yarn 4, a Corepack prompt with stdin closed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ERAS = ("sandbox", "pkg-dev", "catalog")
TOOLS = ("cargo", "go", "yarn", "corepack", "rustup", "llvm-objcopy", "git")

SUBMODULES = (
    "src/deps/libkrun-sys/vendor/libkrun",
    "src/deps/libkrun-sys/vendor/libkrunfw",
    "src/deps/e2fsprogs-sys/vendor/e2fsprogs",
    "src/deps/bubblewrap-sys/vendor/bubblewrap",
)
_NEW = """write:registries delete:registries write:templates delete:templates write:boxes
delete:boxes read:volumes write:volumes delete:volumes write:regions delete:regions
read:runners write:runners delete:runners read:audit_logs read:images delete:images
read:registries"""
_OLD = """write:registries delete:registries write:snapshots delete:snapshots write:sandboxes
delete:sandboxes read:volumes write:volumes delete:volumes"""
PERMISSIONS_NEW = tuple(_NEW.split())
PERMISSIONS_OLD = tuple(_OLD.split())


def _w(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _enum(values) -> str:
    body = "\n".join(f"  P{i} = '{v}'," for i, v in enumerate(values))
    return f"export enum OrganizationResourcePermission {{\n{body}\n}}\n"


def make_checkout(root: Path, era: str) -> Path:
    """Write the synthetic checkout of `era` under `root`; returns root."""
    if era not in ERAS:
        raise ValueError(f"unknown era {era!r}")
    root.mkdir(parents=True, exist_ok=True)
    _w(root, "rust-toolchain.toml", '[toolchain]\nchannel = "1.88.0"\n')
    _w(root, "apps/runner/go.mod", "module github.com/boxlite-ai/runner\n\ngo 1.25.4\n")
    _w(root, "apps/runner/cmd/runner/main.go", "package main\n")
    _w(root, "apps/api/src/main.ts", "// api\n")
    _w(root, "apps/api/tsconfig.app.json", "{}\n")
    _w(root, "sdks/python/pyproject.toml", '[project]\nname = "boxlite"\n')
    _w(root, "sdks/c/include/boxlite.h", "/* header */\n")
    _w(root, "scripts/build/build-runtime.sh", "#!/bin/bash\n")
    gitmodules = "".join(
        f'[submodule "{p}"]\n\tpath = {p}\n\turl = https://github.com/x/{p.rsplit("/", 1)[1]}.git\n'
        for p in SUBMODULES
    )
    _w(root, ".gitmodules", gitmodules)
    api = "apps/api/src"
    if era == "sandbox":
        _w(root, "apps/package.json", json.dumps({"name": "boxlite", "private": True}))
        _w(root, "apps/yarn.lock", "# yarn lockfile v1\n")
        _w(root, f"{api}/sandbox/controllers/snapshot.controller.ts", "// snapshots\n")
        _w(
            root,
            f"{api}/app.service.ts",
            "getOrThrow('transientRegistry.url')\ngetOrThrow('internalRegistry.url')\n",
        )
        _w(root, f"{api}/auth/api-key.strategy.ts", "getOrThrow('sshGateway.apiKey')\n")
        _w(root, f"{api}/organization/dto/update-organization-quota.dto.ts", "maxCpuPerSandbox\n")
        _w(root, f"{api}/organization/enums/organization-resource-permission.enum.ts",
           _enum(PERMISSIONS_OLD))  # fmt: skip
        _w(
            root,
            "sdks/go/bridge.go",
            "package boxlite\n\n/*\n#cgo CFLAGS: -I${SRCDIR}/include\n"
            '#cgo linux LDFLAGS: ${SRCDIR}/libboxlite.a -lm\n*/\nimport "C"\n',
        )
    else:
        pm = "yarn@4.9.1" if era == "pkg-dev" else "yarn@4.13.0"
        _w(root, "apps/package.json", json.dumps({"name": "boxlite", "packageManager": pm}))
        _w(root, "scripts/build/fix-go-symbols.sh", "#!/bin/bash\n")
        _w(root, "apps/runner/pkg/daemon/assets.go", "package daemon\n\n//go:embed static/*\n")
        _w(root, "apps/daemon/cmd/daemon/main.go", "package main\n")
        _w(root, f"{api}/admin/dto/organization-quota.dto.ts", "totalCpuQuota\n")
        _w(
            root,
            f"{api}/app.service.ts",
            "// TODO(image-rewrite): system template seeding removed\n",
        )
        _w(
            root,
            f"{api}/auth/api-key.strategy.ts",
            "this.configService.get('healthCheck.apiKey')\n",
        )
        _w(root, f"{api}/organization/enums/organization-resource-permission.enum.ts",
           _enum(PERMISSIONS_NEW))  # fmt: skip
    if era == "pkg-dev":
        _w(root, f"{api}/box/controllers/snapshot.controller.ts", "// snapshots\n")
        pkg = "sdks/go/pkg/boxlite"
        _w(
            root,
            f"{pkg}/bridge_cgo_dev.go",
            "//go:build boxlite_dev\n\npackage boxlite\n\n/*\n"
            "#cgo linux LDFLAGS: ${SRCDIR}/../../../../target/debug/libboxlite.a\n*/\n",
        )
        _w(
            root,
            f"{pkg}/bridge_cgo_prebuilt.go",
            "//go:build !boxlite_dev\n\npackage boxlite\n\n/*\n"
            "#cgo linux,amd64 LDFLAGS: ${SRCDIR}/lib/linux-x64-gnu/libboxlite.a\n*/\n",
        )
    if era == "catalog":
        _w(root, "apps/yarn.lock", "__metadata:\n  version: 8\n")
        _w(root, f"{api}/image/image.module.ts", "// catalog\n")
        _w(root, "apps/libs/computer-use/main.go", "package main\n")
        _w(
            root,
            "sdks/go/bridge_cgo_prebuilt.go",
            "//go:build !boxlite_dev\n\npackage boxlite\n\n/*\n"
            "#cgo CFLAGS: -I${SRCDIR}/lib/include\n"
            "#cgo darwin,arm64 LDFLAGS: ${SRCDIR}/lib/darwin-arm64/libboxlite.a\n"
            "#cgo linux,amd64 LDFLAGS: ${SRCDIR}/lib/linux-x64-gnu/libboxlite.a\n"
            '#cgo linux,amd64 LDFLAGS: -lresolv -lpthread -ldl -lrt -lm\n*/\nimport "C"\n',
        )
        _w(root, "sdks/go/go.mod", "module github.com/boxlite-ai/boxlite/sdks/go\n\ngo 1.24\n")
        _w(
            root,
            "sdks/go/rest.go",
            "package boxlite\n\ntype BoxliteRestOptions struct {\n\tURL string\n}\n\n"
            "func NewRest(opts BoxliteRestOptions) (*Runtime, error) { return nil, nil }\n",
        )
        # What `go generate` leaves: a *release* library the build must replace.
        _w(root, "sdks/go/lib/linux-x64-gnu/libboxlite.a", "RELEASE DOWNLOAD\n")
    return root


# --------------------------------------------------------------------------- stand-ins

_TOOL = r"""
import json, os, sys
from pathlib import Path

name = Path(sys.argv[0]).name
args = sys.argv[1:]
with open(os.environ["ERAS_RECORD"], "a") as fh:
    fh.write(json.dumps({"tool": name, "argv": args, "cwd": os.getcwd(),
                         "env": {k: os.environ.get(k) for k in
                                 ("CGO_ENABLED", "HUSKY", "COREPACK_ENABLE_DOWNLOAD_PROMPT",
                                  "GOFLAGS", "GOPROXY", "GOTOOLCHAIN")}})
             + "\n")
cwd = Path.cwd()
if name == "cargo" and args[:1] == ["build"]:
    profile = "release" if "--release" in args else "debug"
    lib = cwd / "target" / profile / "libboxlite.a"
    lib.parent.mkdir(parents=True, exist_ok=True)
    lib.write_text(f"OUR BUILD {profile}\n")
elif name == "go" and args[:1] == ["build"]:
    if args[-1] == "." and os.environ.get("ERAS_GO_DRIVER_FAIL") == "1":
        print("main.go:12:2: undefined: boxlite.NewRest", file=sys.stderr)
        sys.exit(1)
    if args[-1] == "./cmd/runner":
        assets = cwd / "pkg/daemon/assets.go"
        static = cwd / "pkg/daemon/static"
        if assets.is_file() and "go:embed static/*" in assets.read_text() and not any(
            static.glob("*")
        ):
            print("pkg/daemon/assets.go: pattern static/*: no matching files found",
                  file=sys.stderr)
            sys.exit(1)
    out = Path(args[args.index("-o") + 1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"binary {' '.join(args)}\n")
elif name in ("yarn", "corepack"):
    if os.environ.get("ERAS_PROMPT") == "1":
        sys.stdout.write("Corepack is about to download yarn. Do you want to continue? [Y/n] ")
        sys.stdout.flush()
        if not sys.stdin.readline():
            print("\nprompt got no answer (stdin closed)", file=sys.stderr)
            sys.exit(1)
    if name == "yarn" and args[:1] == ["install"]:
        pm = json.loads((cwd / "package.json").read_text()).get("packageManager", "yarn@1.22.0")
        major = int(pm.split("@")[1].split(".")[0])
        if major >= 2 and ("--frozen-lockfile" in args or "--non-interactive" in args):
            bad = "--frozen-lockfile" if "--frozen-lockfile" in args else "--non-interactive"
            print(f'Unknown Syntax Error: Unsupported option name ("{bad}").', file=sys.stderr)
            sys.exit(1)
        if not (cwd / "yarn.lock").exists():
            print(f"Usage Error: The nearest package directory ({cwd}) doesn't seem to be "
                  "part of the project", file=sys.stderr)
            sys.exit(1)
        (cwd / "node_modules").mkdir(exist_ok=True)
sys.exit(0)
"""


def install_tools(bin_dir: Path, record: Path) -> dict[str, str]:
    """Stand-ins on `bin_dir`; returns env (PATH first, ERAS_RECORD) for running steps."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "_tool.py"
    script.write_text(f"#!{sys.executable}\n{_TOOL}")
    script.chmod(0o755)
    for tool in TOOLS:
        link = bin_dir / tool
        if not link.exists():
            link.symlink_to(script)
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ERAS_RECORD": str(record),
    }


def recorded(record: Path) -> list[dict]:
    if not record.is_file():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
