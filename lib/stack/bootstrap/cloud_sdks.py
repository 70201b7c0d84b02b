"""Cloud bootstrap: the SDKs of the SDK axis other than Python, built from the checkout.

Why: on the cloud stack the suite must test the code in front of it, so the Node driver
(`drivers/node/`) must load the checkout's `sdks/node`, not the npm release `make setup`
installs, and the Go driver (`drivers/go/`) must be compiled against the checkout's
`sdks/go`. Two steps, self-contained (wired in lib/stack/bootstrap/plan.py after `sdk`):

- `node_sdk`: in `<repo>/sdks/node`, `npm ci` (its build tools: napi-rs CLI, tsc), the
  native binding (`npm run build:native -- --release`, cargo) and the TypeScript
  (`npm run build`); then `npm install --no-save <repo>/sdks/node` in `drivers/node`, which
  links `node_modules/@boxlite-ai/boxlite` to the checkout (its `native/*.node` is the
  binding just built). Rebuilt when the checkout's source state differs from the recorded
  build or the link points elsewhere; `make setup` leaves a linked SDK alone, and the run
  summary names the SDK's source (`Config.sdks`).
- `go_driver`: after `build` (which put the checkout's libboxlite.a where its Go SDK links
  it), a fresh copy of `drivers/go` under the state dir, `go mod edit -replace` pointing
  `github.com/boxlite-ai/boxlite/sdks/go` at `<repo>/sdks/go`, then `go build` with the
  checkout's Go (/usr/local/go, GOTOOLCHAIN=local), CGO_ENABLED=1, GOPROXY=off (the SDK's
  own dependencies come from the module cache the runner build filled; nothing is fetched)
  and the build tags of that SDK's era (`go_driver_tags`); installed as
  `boxlite-e2e-go-driver` in the layout's bin dir. The old binary is removed first, so a
  failed build leaves no stale driver: the Go axis then reports not applicable with the
  reason (lib/harness/sdk/availability.py), and this step fails with the build's error.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lib.errors import HarnessError
from lib.harness.sdk.availability import GO_DRIVER_BINARY
from lib.names import REPO_ROOT
from lib.stack import cloud_build
from lib.stack.bootstrap import cloud
from lib.stack.bootstrap.context import Context
from lib.stack.checkout import Checkout

NODE_DRIVER_DIR = REPO_ROOT / "drivers" / "node"
NPM_QUIET = ("--no-audit", "--no-fund")
GO_DRIVER_DIR = REPO_ROOT / "drivers" / "go"
GO_SDK_MODULE = "github.com/boxlite-ai/boxlite/sdks/go"
GO_SDK_DIR = "sdks/go"
# Go SDK API shapes the driver has a build-tagged file for: (tag, what marks it in sdks/go).
GO_ERA_TAGS = (
    ("boxlite_rest_options", "type BoxliteRestOptions struct"),  # NewRest(BoxliteRestOptions)
    ("boxlite_attach", "func (b *Box) AttachExecution("),  # ExecutionOptions.ExecutionID
)
GO_DRIVER_ENV = (("CGO_ENABLED", "1"), ("GOFLAGS", "-mod=mod"), ("GOPROXY", "off"))


class GoDriverUnsupported(HarnessError, ValueError):
    """The checkout's Go SDK is not a shape the Go driver can be built against."""


def _sdk_sources(co: Checkout) -> str:
    sdk = co.root / GO_SDK_DIR
    return "\n".join(p.read_text(errors="replace") for p in sorted(sdk.glob("*.go")))


def go_driver_tags(co: Checkout) -> tuple[str, ...]:
    """The build tags for the driver: the SDK's link tags, then the era's API tags.

    GoDriverUnsupported when the SDK package is not `sdks/go` itself, has no go.mod, or has
    no REST runtime (NewRest): the driver imports that module and connects over REST.
    """
    if Path(co.go_link.cgo_file).parent != Path(GO_SDK_DIR):
        raise GoDriverUnsupported(
            f"the Go SDK package is {Path(co.go_link.cgo_file).parent}, not {GO_SDK_DIR}; "
            f"the Go driver imports {GO_SDK_MODULE}"
        )
    if not (co.root / GO_SDK_DIR / "go.mod").is_file():
        raise GoDriverUnsupported(f"no {GO_SDK_DIR}/go.mod in {co.root}")
    text = _sdk_sources(co)
    if "func NewRest(" not in text:
        raise GoDriverUnsupported(f"{GO_SDK_DIR} has no NewRest (no REST runtime in this era)")
    return tuple(co.go_link.tags) + tuple(tag for tag, mark in GO_ERA_TAGS if mark in text)


def go_driver_plan(co: Checkout, build_dir: Path, out: Path) -> list[cloud_build.Step]:
    """Copy drivers/go, point it at the checkout's sdks/go, build it with the era's tags."""
    tags = go_driver_tags(co)
    sdk = co.root / GO_SDK_DIR
    tag_args = ("-tags", ",".join(tags)) if tags else ()
    return [
        cloud_build.Step("fresh Go driver build dir", ("rm", "-rf", str(build_dir)), co.root),
        cloud_build.Step("Go driver build root", ("mkdir", "-p", str(build_dir.parent)), co.root),
        cloud_build.Step(
            "copy drivers/go", ("cp", "-r", str(GO_DRIVER_DIR), str(build_dir)), co.root
        ),
        cloud_build.Step(
            "point the Go driver at the checkout's Go SDK",
            ("go", "mod", "edit", f"-replace={GO_SDK_MODULE}={sdk}"),
            build_dir,
        ),
        cloud_build.Step(
            "Go driver",
            ("go", "build", *tag_args, "-o", str(out), "."),
            build_dir,
            GO_DRIVER_ENV,
        ),
    ]


def _driver_source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(GO_DRIVER_DIR.rglob("*")):
        if path.is_file() and path.name != GO_DRIVER_BINARY:
            digest.update(str(path.relative_to(GO_DRIVER_DIR)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def node_sdk(ctx: Context) -> None:
    """The Node SDK from the checkout, linked into the harness's Node driver."""
    checkout = cloud.repo(ctx)
    sdk_dir = checkout / "sdks" / "node"
    state = cloud.source_state(ctx, checkout)
    installed = NODE_DRIVER_DIR / "node_modules" / "@boxlite-ai" / "boxlite"
    recorded = cloud.load_builds(ctx).get("node_sdk", {})
    linked = installed.is_symlink() and installed.resolve() == sdk_dir.resolve()
    label = f"checkout {state['sha'][:12]}{'+dirty' if state['dirty'] else ''}"
    if recorded.get("source") == state and linked:
        ctx.note(f"Node SDK from the checkout at {state['sha'][:12]} linked")
        ctx.facts["node_sdk"] = label
        return
    env = cloud.tool_env()
    ctx.run(["npm", "ci", *NPM_QUIET], "install the Node SDK's build tools", cwd=sdk_dir, env=env)
    ctx.run(
        ["npm", "run", "build:native", "--", "--release"],
        "build the Node SDK's native binding (napi-rs, cargo)",
        cwd=sdk_dir,
        env=env,
    )
    ctx.run(["npm", "run", "build"], "build the Node SDK's TypeScript", cwd=sdk_dir, env=env)
    ctx.run(
        ["npm", "install", "--no-save", *NPM_QUIET, str(sdk_dir)],
        "link the checkout's Node SDK into drivers/node",
        cwd=NODE_DRIVER_DIR,
        env=env,
    )
    cloud._record_build(ctx, "node_sdk", {"from": "checkout", "source": state})
    ctx.facts["node_sdk"] = label


def go_driver(ctx: Context) -> None:
    """The Go driver built against the checkout's sdks/go, installed in the layout's bin dir."""
    checkout = cloud.repo(ctx)
    co = cloud._checkout_or_fail(ctx)
    if co is None:
        return
    binary = ctx.layout.bin_dir / GO_DRIVER_BINARY
    try:
        tags = go_driver_tags(co)
    except GoDriverUnsupported as exc:
        if binary.exists() and ctx.change(f"remove the stale Go driver {binary}"):
            binary.unlink()
        ctx.fail(f"cannot build the Go driver: {exc}")
        return
    state = cloud.source_state(ctx, checkout)
    recorded = cloud.load_builds(ctx).get("go_driver", {})
    entry = {"source": state, "driver": _driver_source_hash(), "tags": list(tags)}
    label = f"checkout {state['sha'][:12]}{'+dirty' if state['dirty'] else ''}"
    if all(recorded.get(k) == v for k, v in entry.items()) and recorded.get(
        "sha256"
    ) == cloud._sha256(binary):
        ctx.note(f"Go driver for the checkout at {state['sha'][:12]} built and installed")
        ctx.facts["go_driver"] = label
        return
    if binary.exists() and ctx.change(f"remove the old Go driver {binary} before rebuilding"):
        binary.unlink()
    build_dir = ctx.layout.state_dir / "build/go-driver"
    out = ctx.layout.state_dir / "build" / GO_DRIVER_BINARY
    cloud._run_steps(ctx, go_driver_plan(co, build_dir, out))
    ctx.run(["install", "-D", "-m", "0755", str(out), str(binary)], f"install {binary}")
    entry["sha256"] = cloud._sha256(binary) or "<dry-run>"
    cloud._record_build(ctx, "go_driver", entry)
    ctx.facts["go_driver"] = f"{label}, tags {','.join(tags) or 'none'}"
